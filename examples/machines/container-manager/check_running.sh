#!/bin/sh
# The service counts as running while its marker file exists (a dot file: machine
# directories are content-hashed for reloads, and dot files are left out).
test -f ".${MACHINE_NAME}.running"
