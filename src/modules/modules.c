#include "modules/modules.h"

#include "base/assert.h"
#include "modules/notary.h"

enum err
modules_register_all(struct registry *r)
{
    ASSERT(r != NULL);
    return registry_add(r, notary_module());
}
