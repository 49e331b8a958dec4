/*
 * users.c - IAM users, their access keys, and groups with their members. Entities are
 * rows of the store (see store/store_iam.h); reads come from the request's snapshot.
 * Secrets are returned once, by CreateAccessKey, and never again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include <openssl/rand.h>

#include "api/authorize.h"
#include "api/iam/iam_int.h"
#include "util/checksum.h"
#include "util/codec.h"

#define NAME_MAX_LEN 64
#define S(x)         qr_slice_cstr(x)

static const struct authz_row *entity(struct iam_op *op, const char *kind, const char *name,
                                      const char *what)
{
    const struct authz_row *r = authz_row(op->snap, kind, "", name);
    if (!r)
        iam_no_entity(op, what, name);
    return r;
}

/* <Tag> elements for an entity: members User, Group, Role carry Path, Name, Id, Arn and
 * CreateDate. */
static void entity_xml(struct iam_op *op, const char *type, const struct authz_row *r)
{
    static const struct {
        const char *type, *name_tag, *id_tag;
    } tags[] = {{"user", "UserName", "UserId"},
                {"group", "GroupName", "GroupId"},
                {"role", "RoleName", "RoleId"}};
    size_t t = 0;
    while (strcmp(tags[t].type, type) != 0)
        t++;
    char *path = authz_doc_str(r->doc, "path", "/");
    char *id = authz_doc_str(r->doc, "id", "");
    char arn[1200];
    iam_arn(op, type, path, r->name, arn, sizeof(arn));
    iam_elem(op, "Path", path);
    iam_elem(op, tags[t].name_tag, r->name);
    iam_elem(op, tags[t].id_tag, id);
    iam_elem(op, "Arn", arn);
    iam_elem_time(op, "CreateDate", authz_doc_int(r->doc, "created", 0));
    free(path);
    free(id);
}

static bool name_ok(struct iam_op *op, const char *param, const char **out)
{
    *out = iam_req_str(op, param, 1, NAME_MAX_LEN);
    if (!*out)
        return false;
    for (const char *p = *out; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("+=,.@_-", c))) {
            iam_fail(op, 400, "ValidationError",
                     "1 validation error detected: Value '%s' at '%c%s' failed to satisfy "
                     "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+",
                     *out, param[0] + 32, param + 1);
            return false;
        }
    }
    return true;
}

/* Creates a user, group or role row whose document is doc. */
/* IAM names are unique regardless of case ("ADMIN" and "admin" cannot both exist). */
bool iam_name_free(struct iam_op *op, const char *kind, const char *name, const char *what)
{
    const struct authz_row *r;
    size_t n = authz_rows(op->snap, kind, "", &r);
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(r[i].name, name) == 0) {
            iam_fail(op, 409, "EntityAlreadyExists", "%s with name %s already exists.", what,
                     r[i].name);
            return false;
        }
    return true;
}

static bool create_entity(struct iam_op *op, const char *kind, const char *name, const char *doc,
                          const char *what)
{
    if (!iam_name_free(op, kind, name, what))
        return false;
    struct store_iam_op c = {STORE_IAM_INSERT, kind, S(""), S(name), S(doc)};
    return iam_change(op, &c, 1, what, name);
}

void iam_create_user(struct iam_op *op)
{
    const char *name, *path = iam_path(op);
    if (!path || !name_ok(op, "UserName", &name))
        return;
    json_t *tags = iam_tags_param(op);
    if (!tags)
        return;
    char id[32];
    iam_new_id("AIDA", id);
    json_t *j = json_pack("{s:s, s:s, s:I, s:o}", "id", id, "path", path, "created",
                          (json_int_t)op->now_ms, "tags", tags);
    char *doc = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (create_entity(op, "user", name, doc, "User")) {
        struct authz_row r = {"user", "", name, S(doc)};
        iam_open(op, "User");
        entity_xml(op, "user", &r);
        iam_tags_xml(op, &r);
        iam_close(op, "User");
    }
    free(doc);
}

/* The user named by UserName, or the caller's own user when it is absent. */
static const char *user_param(struct iam_op *op)
{
    const char *name = iam_opt_str(op, "UserName", NULL);
    if (name)
        return name;
    const char *p = op->ar->id.principal;
    if (op->ar->id.kind == CREDS_LONG_TERM && strstr(p, ":user/"))
        return strrchr(p, '/') + 1;
    iam_fail(op, 400, "ValidationError",
             "Must specify userName when calling with non-User credentials");
    return NULL;
}

void iam_get_user(struct iam_op *op)
{
    const char *name = user_param(op);
    const struct authz_row *r = name ? entity(op, "user", name, "user") : NULL;
    if (!r)
        return;
    iam_open(op, "User");
    entity_xml(op, "user", r);
    iam_tags_xml(op, r);
    iam_close(op, "User");
}

static void list_entities(struct iam_op *op, const char *kind, const char *list_tag,
                          const char *item_tag)
{
    const struct authz_row *r;
    size_t n = authz_rows(op->snap, kind, "", &r);
    const char *prefix = iam_opt_str(op, "PathPrefix", "/");
    iam_open(op, list_tag);
    for (size_t i = 0; i < n; i++) {
        char *path = authz_doc_str(r[i].doc, "path", "/");
        bool in = strncmp(path, prefix, strlen(prefix)) == 0;
        free(path);
        if (!in || !iam_page_next(op))
            continue;
        iam_open(op, item_tag);
        entity_xml(op, kind, &r[i]);
        iam_close(op, item_tag);
    }
    iam_close(op, list_tag);
    iam_page_end(op);
}

void iam_list_users(struct iam_op *op)
{
    list_entities(op, "user", "Users", "member");
}

/* An entity cannot go while anything hangs off it: IAM's DeleteConflict. */
static bool no_dependents(struct iam_op *op, const char *kind, const char *name)
{
    char owner[100];
    const struct authz_row *r;
    snprintf(owner, sizeof(owner), "%s:%s", kind, name);
    const char *what = NULL;
    if (authz_rows(op->snap, "inline", owner, &r))
        what = "must delete policies first";
    else if (authz_rows(op->snap, "attached", owner, &r))
        what = "must detach all policies first";
    else if (strcmp(kind, "user") == 0 && authz_rows(op->snap, "key", name, &r))
        what = "must delete access keys first";
    else if (strcmp(kind, "group") == 0 && authz_rows(op->snap, "member", name, &r))
        what = "must remove users from group first";
    if (strcmp(kind, "user") == 0 && !what) {
        size_t n = authz_rows(op->snap, "member", NULL, &r);
        for (size_t i = 0; i < n && !what; i++)
            if (strcmp(r[i].name, name) == 0)
                what = "must remove user from all groups first";
    }
    if (what)
        iam_fail(op, 409, "DeleteConflict", "Cannot delete entity, %s.", what);
    return what == NULL;
}

static void delete_entity(struct iam_op *op, const char *kind, const char *param, const char *what)
{
    const char *name = iam_req_str(op, param, 1, 128);
    if (!name || !entity(op, kind, name, what) || !no_dependents(op, kind, name))
        return;
    char owner[100];
    snprintf(owner, sizeof(owner), "%s:%s", kind, name);
    /* The store re-checks what the snapshot said, inside the same transaction. */
    struct store_iam_op c[] = {
        {STORE_IAM_ABSENT, "inline", S(owner), S(""), S("")},
        {STORE_IAM_ABSENT, "attached", S(owner), S(""), S("")},
        {STORE_IAM_ABSENT, strcmp(kind, "group") == 0 ? "member" : "key",
         S(strcmp(kind, "role") == 0 ? "" : name), S(""), S("")},
        {STORE_IAM_DELETE, kind, S(""), S(name), S("")},
    };
    enum qr_err e = store_iam_change(op->server->store, c, 4, NULL);
    if (e == QR_E_CONFLICT)
        iam_fail(op, 409, "DeleteConflict", "Cannot delete entity, it has dependents.");
    else if (e != QR_OK)
        iam_store_fail(op, e, what, name);
    else
        op->changed = true;
}

void iam_delete_user(struct iam_op *op)
{
    delete_entity(op, "user", "UserName", "user");
}

/* ---- UpdateUser ---- */

/* The rows keyed by a user's name, moved to the new name by a rename: its access keys,
 * memberships, inline policies and attachments (kind, parent, name, doc), old names. */
struct moved {
    struct store_iam_op *ops;
    size_t n;
};

static void move_rows(struct moved *m, const char *kind, const struct authz_row *r, size_t n,
                      const char *new_parent, const char *old_name, const char *new_name)
{
    for (size_t i = 0; i < n; i++) {
        if (old_name && strcmp(r[i].name, old_name) != 0)
            continue;
        const char *name = old_name ? new_name : r[i].name;
        const char *parent = new_parent ? new_parent : r[i].parent;
        m->ops[m->n++] = (struct store_iam_op){STORE_IAM_DELETE, kind, S(r[i].parent),
                                               S(r[i].name), S("")};
        m->ops[m->n++] = (struct store_iam_op){STORE_IAM_INSERT, kind, S(parent), S(name), r[i].doc};
    }
}

/* IAM: "To change a user name, the requester must have appropriate permissions on both
 * the source object and the target object": iam:UpdateUser on the new ARN too (the
 * current one was decided with the route). */
static bool target_allowed(struct iam_op *op, const struct authz_row *u, const char *new_name,
                           const char *path)
{
    char arn[1200], msg[2600];
    char *old_path = authz_doc_str(u->doc, "path", "/");
    iam_arn(op, "user", path ? path : old_path, new_name, arn, sizeof(arn));
    free(old_path);
    struct api_authz q = {"iam:UpdateUser", arn, {NULL, 0}, NULL, 0, NULL};
    if (api_authorize(op->ar, &q, msg, sizeof(msg)))
        return true;
    iam_fail(op, 403, "AccessDenied", "%s", msg);
    return false;
}

/* A new name and/or path. A rename moves every row keyed by the name in one transaction,
 * so the user keeps its id, keys, groups and policies (IAM: "the user's ... group
 * memberships, policies, access keys ... stay with the user"); the ABSENT steps make a
 * row added since the snapshot fail the change instead of being left behind. */
void iam_update_user(struct iam_op *op)
{
    const char *name = iam_req_str(op, "UserName", 1, 128), *new_name = NULL, *path = NULL;
    const struct authz_row *u = name ? entity(op, "user", name, "user") : NULL;
    struct qr_slice v;
    if (!u || (iam_param(op, "NewUserName", &v) && !name_ok(op, "NewUserName", &new_name)) ||
        (iam_param(op, "NewPath", &v) && !(path = iam_path_of(op, "NewPath"))))
        return;
    if (!new_name)
        new_name = name;
    bool rename = strcmp(new_name, name) != 0;
    if (rename && strcasecmp(new_name, name) != 0 && !iam_name_free(op, "user", new_name, "User"))
        return;
    if ((rename || path) && !target_allowed(op, u, new_name, path))
        return;
    json_t *j = json_loadb((const char *)u->doc.p, u->doc.len, 0, NULL);
    if (!j) {
        iam_fail(op, 500, "ServiceFailure", "The user's stored document is damaged.");
        return;
    }
    if (path)
        json_object_set_new(j, "path", json_string(path));
    char *doc = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    char old_owner[140], new_owner[140];
    snprintf(old_owner, sizeof(old_owner), "user:%s", name);
    snprintf(new_owner, sizeof(new_owner), "user:%s", new_name);
    const struct authz_row *k, *mem, *inl, *att;
    size_t nk = authz_rows(op->snap, "key", name, &k);
    size_t nm = authz_rows(op->snap, "member", NULL, &mem);
    size_t ni = authz_rows(op->snap, "inline", old_owner, &inl);
    size_t na = authz_rows(op->snap, "attached", old_owner, &att);
    struct moved m = {qr_xmalloc(sizeof(*m.ops) * (2 * (nk + nm + ni + na) + 5)), 0};
    if (!rename) {
        m.ops[m.n++] = (struct store_iam_op){STORE_IAM_UPDATE, "user", S(""), S(name), S(doc)};
    } else {
        m.ops[m.n++] = (struct store_iam_op){STORE_IAM_DELETE, "user", S(""), S(name), S("")};
        m.ops[m.n++] = (struct store_iam_op){STORE_IAM_INSERT, "user", S(""), S(new_name), S(doc)};
        move_rows(&m, "key", k, nk, new_name, NULL, NULL);
        move_rows(&m, "member", mem, nm, NULL, name, new_name);
        move_rows(&m, "inline", inl, ni, new_owner, NULL, NULL);
        move_rows(&m, "attached", att, na, new_owner, NULL, NULL);
        m.ops[m.n++] = (struct store_iam_op){STORE_IAM_ABSENT, "key", S(name), S(""), S("")};
        m.ops[m.n++] = (struct store_iam_op){STORE_IAM_ABSENT, "inline", S(old_owner), S(""), S("")};
        m.ops[m.n++] =
            (struct store_iam_op){STORE_IAM_ABSENT, "attached", S(old_owner), S(""), S("")};
    }
    (void)iam_change(op, m.ops, m.n, "user", name);
    free(m.ops);
    free(doc);
}

/* ---- access keys ---- */

void iam_create_access_key(struct iam_op *op)
{
    const char *user = user_param(op);
    if (!user || !entity(op, "user", user, "user"))
        return;
    const struct authz_row *k;
    if (authz_rows(op->snap, "key", user, &k) >= 2) {
        iam_fail(op, 409, "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2");
        return;
    }
    char akid[32], secret[48], doc[256];
    uint8_t raw[30];
    iam_new_id("AKIA", akid);
    akid[20] = '\0'; /* access key ids are 20 characters, other ids 21 */
    if (RAND_bytes(raw, sizeof(raw)) != 1)
        abort();
    size_t sl = qr_b64_encode(raw, sizeof(raw), secret);
    secret[sl] = '\0';
    for (size_t i = 0; i < sl; i++)
        if (secret[i] == '=')
            secret[i] = 'Q';
    snprintf(doc, sizeof(doc), "{\"secret\":\"%s\",\"status\":\"Active\",\"created\":%lld}", secret,
             (long long)op->now_ms);
    struct store_iam_op c[] = {
        {STORE_IAM_PRESENT, "user", S(""), S(user), S("")},
        {STORE_IAM_INSERT, "key", S(user), S(akid), S(doc)},
    };
    if (!iam_change(op, c, 2, "user", user))
        return;
    iam_open(op, "AccessKey");
    iam_elem(op, "UserName", user);
    iam_elem(op, "AccessKeyId", akid);
    iam_elem(op, "Status", "Active");
    iam_elem(op, "SecretAccessKey", secret);
    iam_elem_time(op, "CreateDate", op->now_ms);
    iam_close(op, "AccessKey");
}

void iam_list_access_keys(struct iam_op *op)
{
    const char *user = user_param(op);
    if (!user || !entity(op, "user", user, "user"))
        return;
    const struct authz_row *k;
    size_t n = authz_rows(op->snap, "key", user, &k);
    iam_open(op, "AccessKeyMetadata");
    for (size_t i = 0; i < n; i++) {
        if (!iam_page_next(op))
            continue;
        char *status = authz_doc_str(k[i].doc, "status", "Active");
        iam_open(op, "member");
        iam_elem(op, "UserName", user);
        iam_elem(op, "AccessKeyId", k[i].name);
        iam_elem(op, "Status", status);
        iam_elem_time(op, "CreateDate", authz_doc_int(k[i].doc, "created", 0));
        iam_close(op, "member");
        free(status);
    }
    iam_close(op, "AccessKeyMetadata");
    iam_page_end(op);
}

static const struct authz_row *key_of(struct iam_op *op, const char **user)
{
    const char *akid = iam_req_str(op, "AccessKeyId", 16, 128);
    *user = akid ? user_param(op) : NULL;
    if (!*user)
        return NULL;
    const struct authz_row *k = authz_row(op->snap, "key", *user, akid);
    if (!k)
        iam_fail(op, 404, "NoSuchEntity", "The Access Key with id %s cannot be found.", akid);
    return k;
}

void iam_update_access_key(struct iam_op *op)
{
    const char *user;
    const struct authz_row *k = key_of(op, &user);
    const char *status = k ? iam_req_str(op, "Status", 6, 8) : NULL;
    if (!status)
        return;
    if (strcmp(status, "Active") != 0 && strcmp(status, "Inactive") != 0) {
        iam_fail(op, 400, "ValidationError",
                 "1 validation error detected: Value '%s' at 'status' failed to satisfy "
                 "constraint: Member must satisfy enum value set: [Active, Inactive]",
                 status);
        return;
    }
    char *secret = authz_doc_str(k->doc, "secret", "");
    char doc[256];
    snprintf(doc, sizeof(doc), "{\"secret\":\"%s\",\"status\":\"%s\",\"created\":%lld}", secret,
             status, (long long)authz_doc_int(k->doc, "created", 0));
    free(secret);
    struct store_iam_op c = {STORE_IAM_UPDATE, "key", S(user), S(k->name), S(doc)};
    (void)iam_change(op, &c, 1, "Access Key", k->name);
}

void iam_delete_access_key(struct iam_op *op)
{
    const char *user;
    const struct authz_row *k = key_of(op, &user);
    if (!k)
        return;
    struct store_iam_op c[] = {
        {STORE_IAM_DELETE, "key", S(user), S(k->name), S("")},
        {STORE_IAM_DELETE_ANY, "keyuse", S(""), S(k->name), S("")},
    };
    (void)iam_change(op, c, 2, "Access Key", k->name);
}

/* ---- groups ---- */

void iam_create_group(struct iam_op *op)
{
    const char *name, *path = iam_path(op);
    if (!path || !name_ok(op, "GroupName", &name))
        return;
    char id[32], doc[800];
    iam_new_id("AGPA", id);
    snprintf(doc, sizeof(doc), "{\"id\":\"%s\",\"path\":\"%s\",\"created\":%lld}", id, path,
             (long long)op->now_ms);
    if (!create_entity(op, "group", name, doc, "Group"))
        return;
    struct authz_row r = {"group", "", name, S(doc)};
    iam_open(op, "Group");
    entity_xml(op, "group", &r);
    iam_close(op, "Group");
}

void iam_get_group(struct iam_op *op)
{
    const char *name = iam_req_str(op, "GroupName", 1, 128);
    const struct authz_row *g = name ? entity(op, "group", name, "group") : NULL;
    if (!g)
        return;
    iam_open(op, "Group");
    entity_xml(op, "group", g);
    iam_close(op, "Group");
    const struct authz_row *m;
    size_t n = authz_rows(op->snap, "member", name, &m);
    iam_open(op, "Users");
    for (size_t i = 0; i < n; i++) {
        const struct authz_row *u = authz_row(op->snap, "user", "", m[i].name);
        if (!u || !iam_page_next(op))
            continue;
        iam_open(op, "member");
        entity_xml(op, "user", u);
        iam_close(op, "member");
    }
    iam_close(op, "Users");
    iam_page_end(op);
}

void iam_list_groups(struct iam_op *op)
{
    list_entities(op, "group", "Groups", "member");
}

void iam_delete_group(struct iam_op *op)
{
    delete_entity(op, "group", "GroupName", "group");
}

static void membership(struct iam_op *op, bool add)
{
    const char *group = iam_req_str(op, "GroupName", 1, 128);
    const char *user = group ? iam_req_str(op, "UserName", 1, 128) : NULL;
    if (!user || !entity(op, "group", group, "group") || !entity(op, "user", user, "user"))
        return;
    struct store_iam_op c[] = {
        {STORE_IAM_PRESENT, "user", S(""), S(user), S("")},
        {STORE_IAM_PRESENT, "group", S(""), S(group), S("")},
        {add ? STORE_IAM_UPSERT : STORE_IAM_DELETE, "member", S(group), S(user), S("")},
    };
    (void)iam_change(op, c, 3, "user", user);
}

void iam_add_user_to_group(struct iam_op *op)
{
    membership(op, true);
}

void iam_remove_user_from_group(struct iam_op *op)
{
    membership(op, false);
}

void iam_list_groups_for_user(struct iam_op *op)
{
    const char *user = iam_req_str(op, "UserName", 1, 128);
    if (!user || !entity(op, "user", user, "user"))
        return;
    const struct authz_row *m;
    size_t n = authz_rows(op->snap, "member", NULL, &m);
    iam_open(op, "Groups");
    for (size_t i = 0; i < n; i++) {
        const struct authz_row *g =
            strcmp(m[i].name, user) == 0 ? authz_row(op->snap, "group", "", m[i].parent) : NULL;
        if (!g || !iam_page_next(op))
            continue;
        iam_open(op, "member");
        entity_xml(op, "group", g);
        iam_close(op, "member");
    }
    iam_close(op, "Groups");
    iam_page_end(op);
}

/* Shared with roles.c (declared in iam_int.h). */
void iam_entity_xml(struct iam_op *op, const char *type, const struct authz_row *r)
{
    entity_xml(op, type, r);
}

bool iam_name_ok(struct iam_op *op, const char *param, const char **out)
{
    return name_ok(op, param, out);
}

void iam_delete_entity(struct iam_op *op, const char *kind, const char *param, const char *what)
{
    delete_entity(op, kind, param, what);
}

void iam_list_entities(struct iam_op *op, const char *kind, const char *list_tag)
{
    list_entities(op, kind, list_tag, "member");
}

/* What this process saw (authz_last_used), else what an earlier one saved (keyuse rows,
 * written at most once a minute), else AWS's answer for a key never used. */
void iam_access_key_last_used(struct iam_op *op)
{
    const char *akid = iam_req_str(op, "AccessKeyId", 16, 128);
    if (!akid)
        return;
    const struct authz_row *k;
    size_t n = authz_rows(op->snap, "key", NULL, &k);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(k[i].name, akid) != 0)
            continue;
        iam_elem(op, "UserName", k[i].parent);
        struct authz_use u;
        const struct authz_row *saved = authz_row(op->snap, "keyuse", "", akid);
        bool seen = authz_last_used(op->server->authz, akid, &u);
        if (!seen && saved) {
            char *svc = authz_doc_str(saved->doc, "service", "N/A");
            char *reg = authz_doc_str(saved->doc, "region", "N/A");
            u.ms = authz_doc_int(saved->doc, "ms", 0);
            snprintf(u.service, sizeof(u.service), "%s", svc);
            snprintf(u.region, sizeof(u.region), "%s", reg);
            free(svc);
            free(reg);
        } else if (!seen) {
            u.ms = 0;
        }
        iam_open(op, "AccessKeyLastUsed");
        if (u.ms)
            iam_elem_time(op, "LastUsedDate", u.ms);
        iam_elem(op, "ServiceName", u.ms ? u.service : "N/A");
        iam_elem(op, "Region", u.ms && u.region[0] ? u.region : "N/A");
        iam_close(op, "AccessKeyLastUsed");
        return;
    }
    iam_fail(op, 404, "NoSuchEntity", "The Access Key with id %s cannot be found.", akid);
}
