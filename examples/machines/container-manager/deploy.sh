#!/bin/sh
# Stands in for "docker run": records that the service is up.
echo "deployed $(date +%s)" > ".${MACHINE_NAME}.running"
