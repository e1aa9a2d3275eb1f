/* The alliance's business modules, registered in one place. node/ builds the registry with
 * registry_add_core (account, system) and then modules_register_all. */
#ifndef LM_MODULES_MODULES_H
#define LM_MODULES_MODULES_H

#include "base/err.h"
#include "ledger/registry.h"

/* Adds every business module (today: notary). Errors as registry_add (ERR_EXISTS if one is
 * already registered). */
MUST_USE enum err modules_register_all(struct registry *r);

#endif
