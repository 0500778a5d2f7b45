"""Pure rendering of the files a container gets: /etc/hosts, /etc/hostname, /etc/resolv.conf."""
