#include "base/thread.h"

#include <stddef.h>
#include <sys/prctl.h>

#include "base/assert.h"

void
thread_set_name(const char *name)
{
    ASSERT(name != NULL);
    /* PR_SET_NAME copies at most 16 bytes with the NUL; a failure only loses the label. */
    (void)prctl(PR_SET_NAME, name, 0, 0, 0);
}
