/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef __{{IDENT}}_H
#define __{{IDENT}}_H

#define TASK_COMM_LEN 16
#define MAX_FILENAME_LEN 127

/* One exec: the record the BPF program writes to the ring buffer (plain C types, so that the
 * same header also compiles for user space). */
struct event {
	int pid;
	int ppid;
	char comm[TASK_COMM_LEN];
	char filename[MAX_FILENAME_LEN];
};

#endif /* __{{IDENT}}_H */
