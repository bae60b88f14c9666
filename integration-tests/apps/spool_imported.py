# Imported by the spoolers of the spooler tests (`--spooler-import spool_imported`):
# records which processes imported it in $SPOOL_LOG.
import os
import time

with open(os.environ["SPOOL_LOG"], "a") as f:
    f.write("imported pid=%d t=%.6f\n" % (os.getpid(), time.time()))
