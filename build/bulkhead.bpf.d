build/bulkhead.bpf.o: bpf/bulkhead.bpf.c vmlinux/x86_64/vmlinux.h \
  include/bulkhead/bulkhead.h include/bulkhead/events.h

vmlinux/x86_64/vmlinux.h:

include/bulkhead/bulkhead.h:

include/bulkhead/events.h:
