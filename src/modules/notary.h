/* The notary module: evidence storage (存证). An institution's account anchors the hash of a
 * document so that anyone can later prove that the document existed, unchanged, at a block
 * height and time, vouched for by that institution.
 *
 * Op notary.anchor (args: codec/notary_args.h) records { account, institution, height,
 * block timestamp, kind, note, tx hash } under "notary/r" || document || account and appends
 * the account to the document's anchor list "notary/l" || document. Rejected, with a receipt
 * message: malformed args (zero hash, bad kind, note too long or not UTF-8), a sender without
 * an institution (ERR_DENIED), a second anchor of the same hash by the same account
 * (ERR_EXISTS), more than NOTARY_ANCHORS_PER_HASH_MAX anchors of one hash (ERR_FULL). Other
 * accounts may anchor a hash already anchored. Emits event "anchored" { document, account,
 * kind }.
 * Query notary.get (args: the 32-byte document hash) answers every anchor of the hash
 * (notary_anchors_encode); ERR_NOT_FOUND if there is none.
 * Resources: besides the state reads and writes the view charges, an anchor costs
 * NOTARY_RES_ANCHOR + its args size (argument validation).
 *
 * The proof bundle that shows a record offline is codec/notary_bundle.h.
 */
#ifndef LM_MODULES_NOTARY_H
#define LM_MODULES_NOTARY_H

#include <stddef.h>
#include <stdint.h>

#include "codec/notary_args.h"
#include "crypto/hash.h"
#include "crypto/sign.h"
#include "ledger/module.h"

#define NOTARY_RES_ANCHOR 200u

/* The module's table, for registry_add (static; outlives every registry). */
const struct module_def *notary_module(void);

#endif
