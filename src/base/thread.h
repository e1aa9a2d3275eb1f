/* Names of the process's threads, as `top -H`, `perf report --sort comm` and /proc/PID/task
 * show them: the loop thread keeps the program's name, every other thread names its role. */
#ifndef LM_BASE_THREAD_H
#define LM_BASE_THREAD_H

/* Names the calling thread (at most 15 bytes are kept, the kernel's limit). */
void thread_set_name(const char *name);

#endif
