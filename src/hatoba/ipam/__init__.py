"""Pure address management: which subnet a network gets and which address an endpoint gets."""
