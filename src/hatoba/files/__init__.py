"""Pure reading and rendering of the files a container gets: /etc/hosts, /etc/hostname,
/etc/resolv.conf, and the users and groups of its own /etc/passwd and /etc/group."""
