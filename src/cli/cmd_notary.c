/* `lianmeng notarize FILE --key NAME` and `lianmeng verify PROOF --genesis FILE`.
 *
 * notarize: hashes FILE with the chain's hash (from /v1/status), builds a notary.anchor tx
 * signed by the account key at its current nonce (/v1/accounts), submits it with
 * ?wait=final, then fetches the anchor's proof bundle (/v1/notary/{hash}) and writes it.
 * verify: checks a bundle offline against a genesis file alone (codec/notary_bundle.h steps
 * 1-6): genesis validator set -> epoch changes -> commit cert -> header chain -> state proof
 * of the anchor record; or a tx's inclusion proof against its block header (tx_count bound). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/client.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/reader.h"
#include "base/text.h"
#include "cli/cli.h"
#include "cli/cli_util.h"
#include "codec/consensus_types.h"
#include "codec/notary_args.h"
#include "codec/notary_bundle.h"
#include "codec/tx.h"
#include "codec/validator_set.h"
#include "crypto/hash.h"
#include "crypto/keystore.h"
#include "crypto/merkle.h"
#include "crypto/sign.h"
#include "node/genesis_json.h"

#define NOTARY_PATH_MAX     4096
#define NOTARY_EXPIRY_AHEAD 1000 /* blocks the tx stays valid after the current height */
#define NOTARY_READ_CHUNK   65536

/* ---- helpers ---- */

/* Hashes a whole file with alg. ERR_IO if it cannot be read. */
static enum err
hash_file(const char *path, enum hash_alg alg, struct hash *out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return ERR_IO;
    }
    struct hasher h;
    hasher_init(&h, alg);
    uint8_t *chunk = mem_alloc(NOTARY_READ_CHUNK);
    size_t got = 0;
    while ((got = fread(chunk, 1, NOTARY_READ_CHUNK, f)) > 0) {
        hasher_update(&h, chunk, got);
    }
    bool failed = ferror(f) != 0;
    fclose(f);
    mem_free(chunk);
    if (!failed) {
        hasher_final(&h, out);
    }
    hasher_release(&h);
    return failed ? ERR_IO : ERR_OK;
}

/* Reads a whole file of at most max bytes into out. */
static enum err
read_file(const char *path, size_t max, struct buf *out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return ERR_IO;
    }
    uint8_t chunk[4096];
    size_t got = 0;
    enum err rc = ERR_OK;
    while (rc == ERR_OK && (got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->size + got > max) {
            rc = ERR_TOO_LARGE;
        } else {
            rc = buf_append(out, chunk, got);
        }
    }
    if (rc == ERR_OK && ferror(f) != 0) {
        rc = ERR_IO;
    }
    fclose(f);
    return rc;
}

static enum err
write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        return ERR_IO;
    }
    bool ok = fwrite(data, 1, size, f) == size;
    ok = fclose(f) == 0 && ok;
    return ok ? ERR_OK : ERR_IO;
}

/* GET or POST (json != NULL) and check the answer: CLI_CONTINUE with *out_json. */
static int
node_call(const struct cli_ctx *ctx, const struct api_client *client, const char *path,
          const char *json, json_t **out_json)
{
    struct api_client_response response;
    enum err e = json != NULL ? api_client_post_json(client, path, json, &response)
                              : api_client_get(client, path, &response);
    if (e != ERR_OK) {
        return cli_node_fail(ctx, e);
    }
    int rc = cli_node_answer(ctx, &response, out_json);
    api_client_response_release(&response);
    return rc;
}

static const char *
json_text(const json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v != NULL ? v : "";
}

/* ---- notarize ---- */

struct notarize_opts {
    const char *key;
    const char *dir;
    const char *kind;
    const char *note;
    const char *out;
};

/* What notarize learned from the node and the key, and the signed tx. */
struct anchor_tx {
    enum hash_alg alg;
    struct hash document;
    char addr_hex[2 * ADDRESS_SIZE + 1];
    struct buf wire;
};

/* The chain's hash and id and the final height from /v1/status. */
static int
fetch_status(const struct cli_ctx *ctx, const struct api_client *client, enum hash_alg *out_alg,
             struct hash *out_chain_id, uint64_t *out_height)
{
    json_t *status = NULL;
    int rc = node_call(ctx, client, "/v1/status", NULL, &status);
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    bool ok = hash_alg_parse(json_text(status, "hash"), out_alg) &&
              hash_from_hex(json_text(status, "genesis_hash"), out_chain_id) == ERR_OK;
    json_int_t height =
        json_integer_value(json_object_get(json_object_get(status, "final"), "height"));
    json_decref(status);
    if (!ok || height < 0) {
        return cli_fail(ctx, ERR_MALFORMED, "check that --node names a Lianmeng node",
                        "the node's status lacks the chain hash or genesis hash");
    }
    *out_height = (uint64_t)height;
    return CLI_CONTINUE;
}

/* Hashes FILE, opens the key, reads the account's nonce and signs the anchor into a->wire. */
static int
build_anchor(const struct cli_ctx *ctx, const struct api_client *client,
             const struct notarize_opts *o, const char *kind, const char *note, struct anchor_tx *a)
{
    struct hash chain_id;
    uint64_t height = 0;
    int rc = fetch_status(ctx, client, &a->alg, &chain_id, &height);
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    const char *file = ctx->positional[0];
    enum err e = hash_file(file, a->alg, &a->document);
    if (e != ERR_OK) {
        return cli_fail(ctx, e, "check the path and its permissions", "cannot read %s", file);
    }
    char key_path[NOTARY_PATH_MAX];
    snprintf(key_path, sizeof key_path, "%s/%s.key", o->dir != NULL ? o->dir : "keys", o->key);
    struct cli_passphrase pass = { 0 };
    rc = cli_passphrase_get(ctx, CLI_PASSPHRASE_EXISTING, &pass);
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    struct secret_key *key = NULL;
    e = keystore_read(key_path, pass.text, pass.size, &key);
    cli_passphrase_release(&pass);
    if (e != ERR_OK) {
        return cli_fail(ctx, e, NULL, "cannot open key %s", key_path);
    }
    struct tx tx;
    memset(&tx, 0, sizeof tx);
    secret_key_public(key, &tx.key);
    address_of(a->alg, &tx.key, &tx.sender);
    hex_encode(tx.sender.bytes, ADDRESS_SIZE, a->addr_hex);
    char path[NOTARY_PATH_MAX];
    snprintf(path, sizeof path, "/v1/accounts/%s", a->addr_hex);
    json_t *account = NULL;
    rc = node_call(ctx, client, path, NULL, &account);
    if (rc != CLI_CONTINUE) {
        secret_key_free(key);
        fprintf(stderr, "lianmeng notarize: the key's address %s must be an account on the chain\n",
                a->addr_hex);
        return rc;
    }
    tx.nonce = (uint64_t)json_integer_value(json_object_get(account, "nonce"));
    json_decref(account);
    struct notary_anchor_args args = { .document = a->document,
                                       .kind = kind,
                                       .kind_size = strlen(kind),
                                       .note = note,
                                       .note_size = strlen(note) };
    struct buf args_buf;
    buf_init(&args_buf, NOTARY_ARGS_SIZE_MAX);
    e = notary_anchor_args_encode(&args, &args_buf);
    tx.type = TX_TYPE_V1;
    tx.chain_id = chain_id;
    tx.expiry_height = height + NOTARY_EXPIRY_AHEAD;
    tx.op_count = 1;
    tx.ops[0] = (struct tx_op){ NOTARY_MODULE,    sizeof NOTARY_MODULE - 1,
                                NOTARY_OP_ANCHOR, sizeof NOTARY_OP_ANCHOR - 1,
                                args_buf.data,    args_buf.size };
    if (e == ERR_OK) {
        e = tx_sign(a->alg, &tx, key, &a->wire);
    }
    secret_key_free(key);
    buf_release(&args_buf);
    if (e != ERR_OK) {
        return cli_fail(ctx, e, NULL, "cannot build the anchor transaction");
    }
    return CLI_CONTINUE;
}

/* POSTs the tx with ?wait=final; CLI_CONTINUE when final and accepted. */
static int
submit_anchor(const struct cli_ctx *ctx, const struct api_client *client, const struct anchor_tx *a,
              char tx_hex[2 * HASH_SIZE + 1], json_int_t *out_height)
{
    static const char body_head[] = "{\"tx\":\"";
    size_t head = sizeof body_head - 1;
    char *body_text = mem_alloc(head + 2 * a->wire.size + 3);
    memcpy(body_text, body_head, head);
    hex_encode(a->wire.data, a->wire.size, body_text + head);
    memcpy(body_text + head + 2 * a->wire.size, "\"}", 3);
    json_t *answer = NULL;
    int rc = node_call(ctx, client, "/v1/txs?wait=final", body_text, &answer);
    mem_free(body_text);
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    snprintf(tx_hex, 2 * HASH_SIZE + 1, "%s", json_text(answer, "hash"));
    json_t *receipt = json_object_get(answer, "receipt");
    *out_height = json_integer_value(json_object_get(answer, "height"));
    if (strcmp(json_text(answer, "status"), "final") != 0) {
        fprintf(stderr,
                "lianmeng notarize: tx %s is not final yet; run 'lianmeng query tx %s' later\n",
                tx_hex, tx_hex);
        rc = CLI_EXIT_UNREACHABLE;
    } else if (json_integer_value(json_object_get(receipt, "status")) != 0) {
        fprintf(stderr, "lianmeng notarize: the chain rejected the anchor: %s\n",
                json_text(receipt, "message"));
        rc = CLI_EXIT_REJECTED;
    }
    json_decref(answer);
    return rc;
}

/* Fetches the account's anchor of the document and writes its bundle to out_path. */
static int
save_bundle(const struct cli_ctx *ctx, const struct api_client *client, const char *doc_hex,
            const char *addr_hex, const char *out_path)
{
    char path[NOTARY_PATH_MAX];
    snprintf(path, sizeof path, "/v1/notary/%s", doc_hex);
    json_t *anchors = NULL;
    int rc = node_call(ctx, client, path, NULL, &anchors);
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    const char *bundle_hex = "";
    size_t i = 0;
    json_t *item = NULL;
    json_array_foreach(json_object_get(anchors, "anchors"), i, item)
    {
        if (strcmp(json_text(item, "account"), addr_hex) == 0) {
            bundle_hex = json_text(item, "bundle");
        }
    }
    struct buf bundle;
    buf_init(&bundle, NOTARY_BUNDLE_SIZE_MAX);
    size_t hex_size = strlen(bundle_hex);
    enum err e = hex_size == 0 || hex_size % 2 != 0 ? ERR_NOT_FOUND : ERR_OK;
    uint8_t *space = NULL;
    if (e == ERR_OK) {
        e = buf_reserve(&bundle, hex_size / 2, &space);
    }
    size_t size = 0;
    if (e == ERR_OK) {
        e = hex_decode(bundle_hex, hex_size, space, hex_size / 2, &size);
    }
    json_decref(anchors);
    if (e == ERR_OK) {
        buf_commit(&bundle, size);
        e = write_file(out_path, bundle.data, bundle.size);
    }
    buf_release(&bundle);
    if (e != ERR_OK) {
        return cli_fail(ctx, e, "the anchor is final; run 'lianmeng query notary HASH' to see it",
                        "cannot write the proof bundle to %s", out_path);
    }
    return CLI_CONTINUE;
}

static int
notarize_run(const struct cli_ctx *ctx, const struct notarize_opts *o)
{
    const char *file = ctx->positional[0];
    if (o->key == NULL) {
        return cli_usage_error(ctx, "--key NAME is required (the account key that signs)");
    }
    const char *kind = o->kind != NULL ? o->kind : "document";
    if (!notary_kind_is_valid(kind, strlen(kind))) {
        return cli_usage_error(ctx, "--kind must be 1 to %d of a-z 0-9 _ -, not '%s'",
                               NOTARY_KIND_SIZE_MAX, kind);
    }
    const char *note = o->note != NULL ? o->note : "";
    if (strlen(note) > NOTARY_NOTE_SIZE_MAX) {
        return cli_usage_error(ctx, "--note is at most %d bytes", NOTARY_NOTE_SIZE_MAX);
    }
    char out_path[NOTARY_PATH_MAX];
    snprintf(out_path, sizeof out_path, o->out != NULL ? "%s" : "%s.lmproof",
             o->out != NULL ? o->out : file);
    struct api_client client;
    int rc = cli_node_client(ctx, &client);
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    struct anchor_tx a;
    memset(&a, 0, sizeof a);
    buf_init(&a.wire, TX_SIZE_MAX);
    char tx_hex[2 * HASH_SIZE + 1] = { 0 };
    char doc_hex[2 * HASH_SIZE + 1];
    json_int_t height = 0;
    rc = build_anchor(ctx, &client, o, kind, note, &a);
    if (rc == CLI_CONTINUE) {
        rc = submit_anchor(ctx, &client, &a, tx_hex, &height);
    }
    hash_to_hex(&a.document, doc_hex);
    if (rc == CLI_CONTINUE) {
        rc = save_bundle(ctx, &client, doc_hex, a.addr_hex, out_path);
    }
    buf_release(&a.wire);
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    if (ctx->output == CLI_OUTPUT_JSON) {
        return cli_json_print(json_pack("{s:s,s:s,s:I,s:s,s:s}", "document", doc_hex, "tx", tx_hex,
                                        "height", height, "account", a.addr_hex, "proof",
                                        out_path));
    }
    printf("anchored %s\n  tx %s final at height %lld\n  proof bundle written to %s\n", doc_hex,
           tx_hex, (long long)height, out_path);
    return CLI_EXIT_OK;
}

int
cli_cmd_notarize(int argc, char **argv)
{
    struct notarize_opts o = { 0 };
    const struct cli_option options[] = {
        { "key", "NAME", "the account key that signs: DIR/NAME.key (required)", &o.key, NULL },
        { "dir", "DIR", "the key directory (default ./keys)", &o.dir, NULL },
        { "kind", "K", "the document kind, a-z 0-9 _ - (default document)", &o.kind, NULL },
        { "note", "N", "a note of up to 256 bytes stored with the anchor", &o.note, NULL },
        { "out", "PROOF", "where to write the proof bundle (default FILE.lmproof)", &o.out, NULL },
    };
    const struct cli_spec spec = {
        .command = "notarize",
        .usage = "FILE --key NAME [OPTIONS]",
        .description =
            "Anchors the hash of FILE on the chain (notary.anchor, signed by the key's account\n"
            "at its current nonce), waits until the anchor is final, prints its height and\n"
            "writes the proof bundle that 'lianmeng verify' checks offline.\n",
        .examples = "  lianmeng notarize contract.pdf --key alice --kind contract --note 'v2'\n",
        .options = options,
        .option_count = sizeof options / sizeof options[0],
        .common = CLI_COMMON_NODE | CLI_COMMON_OUTPUT | CLI_COMMON_PASSPHRASE,
        .positional_min = 1,
        .positional_max = 1,
    };
    struct cli_ctx ctx;
    int rc = cli_parse(&spec, argc, argv, &ctx);
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    rc = notarize_run(&ctx, &o);
    int finish = cli_finish(&ctx);
    return rc == CLI_EXIT_OK ? finish : rc;
}

/* ---- verify ---- */

struct verify_state {
    struct genesis genesis;
    struct notary_bundle bundle;
    struct notary_record record;
};

/* Decodes and verifies the bundle against the genesis alone (notary_bundle_verify: genesis
 * validator set -> epoch changes -> commit cert -> header chain -> state proof of the record);
 * *out_what says which step failed. */
static enum err
verify_bundle(struct verify_state *s, const struct buf *data, const char **out_what)
{
    enum err decoded = notary_bundle_decode(data->data, data->size, &s->bundle);
    if (decoded == ERR_UNSUPPORTED) {
        *out_what = "the proof file is a proof bundle of another format version (version 1 "
                    "bundles came from nodes before the one-value-per-document state; fetch "
                    "the proof again from a current node)";
        return decoded;
    }
    *out_what = "the proof file does not decode as a proof bundle";
    TRY(decoded);
    struct cons_chain chain = { .alg = s->genesis.hash_alg };
    *out_what = "the genesis file is invalid";
    TRY(genesis_hash(&s->genesis, &chain.chain_id));
    struct cons_verifier v = { .chain = &chain };
    enum err rc = notary_bundle_verify(&v, s->genesis.validators, &s->bundle, &s->record);
    switch (rc) {
    case ERR_OK:
        *out_what = NULL;
        break;
    case ERR_WRONG_CHAIN:
        *out_what = "the proof is for another chain than this genesis";
        break;
    case ERR_BAD_SIGNATURE:
        *out_what = "the finality proof (commit certificate or header chain) does not verify "
                    "under the genesis validator set and its epoch changes";
        break;
    case ERR_CORRUPT:
        *out_what = "the anchor record is not in the certified state";
        break;
    case ERR_NOT_FOUND:
        *out_what = "the proof's account did not anchor this document in the certified state";
        break;
    default:
        *out_what = "the proof bundle is malformed";
        break;
    }
    return rc;
}

struct verify_opts {
    const char *genesis;
    const char *file;
};

/* A tx inclusion proof as /v1/txs/{hash} answers it (`lianmeng query tx HASH --output json`). */
struct tx_inclusion {
    struct hash tx;
    struct hash block_id;
    uint64_t height;
    uint8_t header[NOTARY_BUNDLE_HEADER_SIZE_MAX];
    size_t header_size;
    struct merkle_proof proof;
};

static enum err
json_hash(json_t *o, const char *key, struct hash *out)
{
    const char *text = json_string_value(json_object_get(o, key));
    return text != NULL ? hash_from_hex(text, out) : ERR_MALFORMED;
}

static enum err
tx_inclusion_from_json(json_t *root, struct tx_inclusion *out)
{
    json_t *inc = json_object_get(root, "inclusion");
    const char *header = json_string_value(json_object_get(inc, "header"));
    json_t *path = json_object_get(inc, "path");
    json_t *index = json_object_get(inc, "index");
    json_t *size = json_object_get(inc, "tree_size");
    json_t *height = json_object_get(root, "height");
    if (header == NULL || !json_is_array(path) || json_array_size(path) > MERKLE_PATH_MAX ||
        !json_is_integer(index) || !json_is_integer(size) || !json_is_integer(height) ||
        json_integer_value(index) < 0 || json_integer_value(size) < 0) {
        return ERR_MALFORMED;
    }
    struct hash leaf;
    TRY(json_hash(root, "hash", &out->tx));
    TRY(json_hash(root, "block_id", &out->block_id));
    TRY(json_hash(inc, "leaf", &leaf));
    if (!hash_equal(&leaf, &out->tx)) {
        return ERR_MALFORMED;
    }
    TRY(hex_decode(header, strlen(header), out->header, sizeof out->header, &out->header_size));
    out->height = (uint64_t)json_integer_value(height);
    out->proof.index = (uint64_t)json_integer_value(index);
    out->proof.tree_size = (uint64_t)json_integer_value(size);
    out->proof.path_count = (uint32_t)json_array_size(path);
    for (uint32_t i = 0; i < out->proof.path_count; i++) {
        const char *h = json_string_value(json_array_get(path, i));
        TRY(h != NULL ? hash_from_hex(h, &out->proof.path[i]) : ERR_MALFORMED);
    }
    return ERR_OK;
}

/* Checks a tx inclusion proof: the header hashes to the block id and the Merkle path leads
 * from the tx hash to its payload_root, for the tree size its tx_count binds. */
static int
verify_tx_inclusion(const struct cli_ctx *ctx, const char *path, enum hash_alg alg,
                    const struct buf *data)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data->data, data->size, 0, &jerr);
    struct tx_inclusion *t = mem_calloc(1, sizeof *t);
    enum err e = root != NULL ? tx_inclusion_from_json(root, t) : ERR_MALFORMED;
    json_decref(root);
    const char *what = "the file is not a final tx's answer with an inclusion proof";
    struct hash id;
    if (e == ERR_OK) {
        hash_bytes(alg, t->header, t->header_size, &id);
        e = hash_equal(&id, &t->block_id) ? ERR_OK : ERR_BAD_SIGNATURE;
        what = "the header does not hash to the block id";
    }
    if (e == ERR_OK) {
        e = tx_inclusion_verify(alg, t->header, t->header_size, &t->tx, &t->proof);
        what = "the Merkle path does not lead to the header's payload root for its tx count";
    }
    int rc = CLI_EXIT_OK;
    if (e != ERR_OK) {
        rc = cli_fail(ctx, e, "the proof does not hold: do not trust this inclusion", "%s: %s",
                      path, what);
        mem_free(t);
        return rc == CLI_EXIT_FAILURE ? CLI_EXIT_REJECTED : rc;
    }
    char tx_hex[2 * HASH_SIZE + 1];
    char id_hex[2 * HASH_SIZE + 1];
    hash_to_hex(&t->tx, tx_hex);
    hash_to_hex(&t->block_id, id_hex);
    if (ctx->output == CLI_OUTPUT_JSON) {
        rc = cli_json_print(json_pack("{s:b,s:s,s:s,s:I,s:I,s:I}", "valid", 1, "tx", tx_hex,
                                      "block_id", id_hex, "height", (json_int_t)t->height, "index",
                                      (json_int_t)t->proof.index, "tx_count",
                                      (json_int_t)t->proof.tree_size));
    } else {
        printf("valid: tx %s\n  is tx %llu of the %llu in block %s (height %llu)\n"
               "  the block's finality is not part of this proof (lianmeng query block)\n",
               tx_hex, (unsigned long long)t->proof.index, (unsigned long long)t->proof.tree_size,
               id_hex, (unsigned long long)t->height);
    }
    mem_free(t);
    return rc;
}

static int
verify_run(const struct cli_ctx *ctx, const struct verify_opts *o)
{
    const char *proof_path = ctx->positional[0];
    if (o->genesis == NULL) {
        return cli_usage_error(ctx, "--genesis FILE is required (the chain's genesis.json)");
    }
    struct verify_state *s = mem_calloc(1, sizeof *s);
    struct buf data;
    buf_init(&data, NOTARY_BUNDLE_SIZE_MAX);
    int rc = CLI_EXIT_OK;
    enum err e = genesis_json_load(o->genesis, &s->genesis);
    if (e != ERR_OK) {
        rc = cli_fail(ctx, e, "give the genesis.json of the chain", "cannot load %s", o->genesis);
        goto out_nogenesis;
    }
    e = read_file(proof_path, NOTARY_BUNDLE_SIZE_MAX, &data);
    if (e != ERR_OK) {
        rc = cli_fail(ctx, e, "check the path", "cannot read %s", proof_path);
        goto out;
    }
    if (data.size > 0 && data.data[0] == '{') {
        rc = verify_tx_inclusion(ctx, proof_path, s->genesis.hash_alg, &data);
        goto out;
    }
    const char *what = NULL;
    e = verify_bundle(s, &data, &what);
    if (e == ERR_OK && o->file != NULL) {
        struct hash doc;
        e = hash_file(o->file, s->genesis.hash_alg, &doc);
        what = "cannot hash --file";
        if (e == ERR_OK && !hash_equal(&doc, &s->bundle.document)) {
            e = ERR_CORRUPT;
            what = "the file's hash is not the anchored document hash";
        }
    }
    if (e != ERR_OK) {
        rc = cli_fail(ctx, e, "the proof does not hold: do not trust this anchor", "%s: %s",
                      proof_path, what);
        if (rc == CLI_EXIT_FAILURE) {
            rc = CLI_EXIT_REJECTED;
        }
        goto out;
    }
    char doc_hex[2 * HASH_SIZE + 1];
    char tx_hex[2 * HASH_SIZE + 1];
    char addr_hex[2 * ADDRESS_SIZE + 1];
    hash_to_hex(&s->bundle.document, doc_hex);
    hash_to_hex(&s->record.tx_hash, tx_hex);
    hex_encode(s->record.account.bytes, ADDRESS_SIZE, addr_hex);
    if (ctx->output == CLI_OUTPUT_JSON) {
        rc = cli_json_print(json_pack(
            "{s:b,s:s,s:s,s:I,s:I,s:I,s:I,s:s%,s:s%,s:s}", "valid", 1, "document", doc_hex,
            "account", addr_hex, "institution", (json_int_t)s->record.institution, "height",
            (json_int_t)s->record.height, "timestamp_us", (json_int_t)s->record.timestamp_us,
            "final_height", (json_int_t)s->bundle.state_height, "kind", s->record.kind,
            s->record.kind_size, "note", s->record.note, s->record.note_size, "tx", tx_hex));
    } else {
        printf("valid: document %s\n  anchored by account %s (institution %u)\n"
               "  at height %llu, time %llu us, tx %s\n  kind %.*s, note \"%.*s\"\n"
               "  final in the state of height %llu, proved from the genesis alone\n",
               doc_hex, addr_hex, s->record.institution, (unsigned long long)s->record.height,
               (unsigned long long)s->record.timestamp_us, tx_hex, (int)s->record.kind_size,
               s->record.kind, (int)s->record.note_size, s->record.note,
               (unsigned long long)s->bundle.state_height);
    }
out:
    genesis_release(&s->genesis);
out_nogenesis:
    buf_release(&data);
    mem_free(s);
    return rc;
}

int
cli_cmd_verify(int argc, char **argv)
{
    struct verify_opts o = { 0 };
    const struct cli_option options[] = {
        { "genesis", "FILE", "the chain's genesis.json, the only thing trusted (required)",
          &o.genesis, NULL },
        { "file", "DOC", "also check that DOC's hash is the anchored document", &o.file, NULL },
    };
    const struct cli_spec spec = {
        .command = "verify",
        .usage = "PROOF --genesis FILE [--file DOC] [--output text|json]",
        .description =
            "Checks a proof bundle written by 'lianmeng notarize' offline, trusting only the\n"
            "genesis file: genesis validator set -> epoch changes -> commit certificate ->\n"
            "header chain -> state proof of the anchor record. Exit 0 if it holds, 2 if not.\n"
            "PROOF may also be a final tx's answer ('lianmeng query tx HASH --output json'):\n"
            "its inclusion proof is checked against the block header and the tx count the\n"
            "header binds (the hash algorithm is the genesis file's).\n",
        .examples = "  lianmeng verify contract.pdf.lmproof --genesis genesis.json --file "
                    "contract.pdf\n",
        .options = options,
        .option_count = sizeof options / sizeof options[0],
        .common = CLI_COMMON_OUTPUT,
        .positional_min = 1,
        .positional_max = 1,
    };
    struct cli_ctx ctx;
    int rc = cli_parse(&spec, argc, argv, &ctx);
    if (rc != CLI_CONTINUE) {
        return rc;
    }
    rc = verify_run(&ctx, &o);
    int finish = cli_finish(&ctx);
    return rc == CLI_EXIT_OK ? finish : rc;
}
