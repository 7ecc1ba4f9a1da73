"""The processes of a container's birth (DESIGN.md §2): spawn (P1, the
`create` command), intermediate (P2) and init (P3), and the sync channel
between them."""
