/*
 * roles.c - IAM roles: the trust policy (checked as a trust policy: a Principal, no
 * Resource), MaxSessionDuration (1 to 12 hours), description and tags; and the tags of
 * users, kept the same way in the user's document.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/iam/iam_int.h"

#define S(x) qr_slice_cstr(x)

/* The role's document: {id, path, created, trust, max, desc, tags:[{Key,Value}]}. */
static char *role_doc(const char *id, const char *path, int64_t created, const char *trust,
                      int64_t max_s, const char *desc, json_t *tags)
{
    json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:I, s:s, s:o}", "id", id, "path", path, "created",
                          (json_int_t)created, "trust", trust, "max", (json_int_t)max_s, "desc",
                          desc ? desc : "", "tags", tags ? tags : json_array());
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

/* A tag key (tagKeyType: 1-128) or value (tagValueType: 0-256) of the model's characters:
 * letters, digits, spaces and _.:/=+-@ (bytes of UTF-8 letters are let through). */
static bool tag_text_ok(const char *t, size_t min, size_t max)
{
    size_t n = strlen(t);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (!(c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || strchr(" _.:/=+-@", c)))
            return false;
    }
    return true;
}

static bool tag_fail(struct iam_op *op, const char *what, const char *v)
{
    iam_fail(op, 400, "ValidationError",
             "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: "
             "Member must satisfy the tag %s length and character constraints",
             v, what, strstr(what, "value") ? "value" : "key");
    return false;
}

/* Tags.member.N.Key / .Value, at most 50; NULL after a ValidationError. */
json_t *iam_tags_param(struct iam_op *op)
{
    json_t *a = json_array();
    for (int i = 1; i <= 51; i++) {
        char k[48], v[48];
        snprintf(k, sizeof(k), "Tags.member.%d.Key", i);
        snprintf(v, sizeof(v), "Tags.member.%d.Value", i);
        const char *key = iam_opt_str(op, k, NULL), *val = iam_opt_str(op, v, "");
        if (!key)
            break;
        if (i == 51) {
            iam_fail(op, 400, "ValidationError",
                     "1 validation error detected: Value at 'tags' failed to satisfy "
                     "constraint: Member must have length less than or equal to 50");
        } else if (!tag_text_ok(key, 1, 128)) {
            tag_fail(op, "tags.member.key", key);
        } else if (!tag_text_ok(val, 0, 256)) {
            tag_fail(op, "tags.member.value", val);
        } else {
            json_array_append_new(a, json_pack("{s:s, s:s}", "Key", key, "Value", val));
            continue;
        }
        json_decref(a);
        return NULL;
    }
    return a;
}

static bool max_session(struct iam_op *op, int64_t *out)
{
    struct qr_slice v;
    uint64_t n = 3600;
    if (iam_param(op, "MaxSessionDuration", &v) && (!qr_slice_u64(v, 43200, &n) || n < 3600)) {
        iam_fail(op, 400, "ValidationError",
                 "1 validation error detected: Value at 'maxSessionDuration' failed to satisfy "
                 "constraint: Member must have value between 3600 and 43200");
        return false;
    }
    *out = (int64_t)n;
    return true;
}

static void role_xml(struct iam_op *op, const struct authz_row *r)
{
    iam_entity_xml(op, "role", r);
    char *trust = authz_doc_str(r->doc, "trust", "");
    char *desc = authz_doc_str(r->doc, "desc", "");
    iam_elem_doc(op, "AssumeRolePolicyDocument", S(trust));
    if (desc[0])
        iam_elem(op, "Description", desc);
    char max[24];
    snprintf(max, sizeof(max), "%lld", (long long)authz_doc_int(r->doc, "max", 3600));
    iam_elem(op, "MaxSessionDuration", max);
    iam_tags_xml(op, r);
    free(trust);
    free(desc);
}

void iam_tags_xml(struct iam_op *op, const struct authz_row *r)
{
    json_t *j = json_loadb((const char *)r->doc.p, r->doc.len, 0, NULL);
    json_t *tags = j ? json_object_get(j, "tags") : NULL;
    if (json_array_size(tags)) {
        iam_open(op, "Tags");
        for (size_t i = 0; i < json_array_size(tags); i++) {
            json_t *t = json_array_get(tags, i);
            iam_open(op, "member");
            iam_elem(op, "Key", json_string_value(json_object_get(t, "Key")));
            iam_elem(op, "Value", json_string_value(json_object_get(t, "Value")));
            iam_close(op, "member");
        }
        iam_close(op, "Tags");
    }
    json_decref(j);
}

void iam_create_role(struct iam_op *op)
{
    const char *name, *path = iam_path(op), *trust;
    int64_t max_s;
    if (!path || !iam_name_ok(op, "RoleName", &name) ||
        !(trust = iam_req_str(op, "AssumeRolePolicyDocument", 1, 131072)) ||
        !iam_policy_ok(op, trust, POLICY_TRUST) ||
        !iam_policy_quota(op, trust, 2048, "ACLSizePerRole") || !max_session(op, &max_s) ||
        !iam_name_free(op, "role", name, "Role"))
        return;
    json_t *tags = iam_tags_param(op);
    if (!tags)
        return;
    char id[32];
    iam_new_id("AROA", id);
    char *doc = role_doc(id, path, op->now_ms, trust, max_s, iam_opt_str(op, "Description", NULL),
                         tags);
    struct store_iam_op c = {STORE_IAM_INSERT, "role", S(""), S(name), S(doc)};
    if (iam_change(op, &c, 1, "Role", name)) {
        struct authz_row r = {"role", "", name, S(doc)};
        iam_open(op, "Role");
        role_xml(op, &r);
        iam_close(op, "Role");
    }
    free(doc);
}

void iam_get_role(struct iam_op *op)
{
    const char *name = iam_req_str(op, "RoleName", 1, 64);
    const struct authz_row *r = name ? authz_row(op->snap, "role", "", name) : NULL;
    if (!r) {
        if (name)
            iam_no_entity(op, "role", name);
        return;
    }
    iam_open(op, "Role");
    role_xml(op, r);
    iam_close(op, "Role");
}

void iam_list_roles(struct iam_op *op)
{
    const struct authz_row *r;
    size_t n = authz_rows(op->snap, "role", "", &r);
    const char *prefix = iam_opt_str(op, "PathPrefix", "/");
    iam_open(op, "Roles");
    for (size_t i = 0; i < n; i++) {
        char *path = authz_doc_str(r[i].doc, "path", "/");
        bool in = strncmp(path, prefix, strlen(prefix)) == 0;
        free(path);
        if (!in || !iam_page_next(op))
            continue;
        iam_open(op, "member");
        role_xml(op, &r[i]);
        iam_close(op, "member");
    }
    iam_close(op, "Roles");
    iam_page_end(op);
}

void iam_delete_role(struct iam_op *op)
{
    iam_delete_entity(op, "role", "RoleName", "role");
}

void iam_update_assume_role_policy(struct iam_op *op)
{
    const char *name = iam_req_str(op, "RoleName", 1, 64), *trust;
    const struct authz_row *r = name ? authz_row(op->snap, "role", "", name) : NULL;
    if (name && !r)
        iam_no_entity(op, "role", name);
    if (!r || !(trust = iam_req_str(op, "PolicyDocument", 1, 131072)) ||
        !iam_policy_ok(op, trust, POLICY_TRUST) ||
        !iam_policy_quota(op, trust, 2048, "ACLSizePerRole"))
        return;
    json_t *j = json_loadb((const char *)r->doc.p, r->doc.len, 0, NULL);
    if (!j) {
        iam_fail(op, 500, "ServiceFailure", "The role's stored document is damaged.");
        return;
    }
    json_object_set_new(j, "trust", json_string(trust));
    char *doc = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct store_iam_op c = {STORE_IAM_UPDATE, "role", S(""), S(name), S(doc)};
    (void)iam_change(op, &c, 1, "role", name);
    free(doc);
}

/* Rewrites the document of the role or user (kind) with fn applied; false after failing. */
static bool edit_entity(struct iam_op *op, const char *kind, const char *name,
                        void (*fn)(struct iam_op *, json_t *))
{
    const struct authz_row *r = authz_row(op->snap, kind, "", name);
    if (!r) {
        iam_no_entity(op, kind, name);
        return false;
    }
    json_t *j = json_loadb((const char *)r->doc.p, r->doc.len, 0, NULL);
    if (!j) {
        iam_fail(op, 500, "ServiceFailure", "The %s's stored document is damaged.", kind);
        return false;
    }
    fn(op, j);
    char *doc = op->code ? NULL : json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!doc)
        return false;
    struct store_iam_op c = {STORE_IAM_UPDATE, kind, S(""), S(name), S(doc)};
    bool ok = iam_change(op, &c, 1, kind, name);
    free(doc);
    return ok;
}

static bool edit_role(struct iam_op *op, const char *name, void (*fn)(struct iam_op *, json_t *))
{
    return edit_entity(op, "role", name, fn);
}

static void apply_update(struct iam_op *op, json_t *j)
{
    int64_t max_s;
    struct qr_slice v;
    if (iam_param(op, "MaxSessionDuration", &v)) {
        if (!max_session(op, &max_s))
            return;
        json_object_set_new(j, "max", json_integer(max_s));
    }
    const char *desc = iam_opt_str(op, "Description", NULL);
    if (desc)
        json_object_set_new(j, "desc", json_string(desc));
}

static void apply_tags(struct iam_op *op, json_t *j)
{
    json_t *tags = json_object_get(j, "tags");
    if (!json_is_array(tags)) {
        tags = json_array();
        json_object_set_new(j, "tags", tags);
    }
    json_t *add = iam_tags_param(op);
    if (!add)
        return;
    for (size_t i = 0; i < json_array_size(add); i++) {
        json_t *t = json_array_get(add, i);
        const char *k = json_string_value(json_object_get(t, "Key"));
        for (size_t x = json_array_size(tags); x > 0; x--)
            if (strcmp(json_string_value(json_object_get(json_array_get(tags, x - 1), "Key")), k) ==
                0)
                json_array_remove(tags, x - 1);
        json_array_append(tags, t);
    }
    json_decref(add);
    if (json_array_size(tags) > 50)
        iam_fail(op, 409, "LimitExceeded", "Cannot exceed quota for %s: 50",
                 op->route->res == IAM_R_USER ? "TagsPerUser" : "TagsPerRole");
}

static void apply_untag(struct iam_op *op, json_t *j)
{
    json_t *tags = json_object_get(j, "tags");
    for (int i = 1; i <= 51; i++) {
        char name[48];
        snprintf(name, sizeof(name), "TagKeys.member.%d", i);
        const char *k = iam_opt_str(op, name, NULL);
        if (!k)
            break;
        if (i == 51 || !tag_text_ok(k, 1, 128)) {
            tag_fail(op, "tagKeys.member", k);
            return;
        }
        if (!json_is_array(tags))
            continue;
        for (size_t x = json_array_size(tags); x > 0; x--)
            if (strcmp(json_string_value(json_object_get(json_array_get(tags, x - 1), "Key")), k) ==
                0)
                json_array_remove(tags, x - 1);
    }
}

void iam_update_role(struct iam_op *op)
{
    const char *name = iam_req_str(op, "RoleName", 1, 64);
    if (name)
        (void)edit_role(op, name, apply_update);
}

void iam_tag_role(struct iam_op *op)
{
    const char *name = iam_req_str(op, "RoleName", 1, 64);
    if (name)
        (void)edit_role(op, name, apply_tags);
}

void iam_untag_role(struct iam_op *op)
{
    const char *name = iam_req_str(op, "RoleName", 1, 64);
    if (name)
        (void)edit_role(op, name, apply_untag);
}

static void list_tags(struct iam_op *op, const char *kind, const char *param, size_t max)
{
    const char *name = iam_req_str(op, param, 1, max);
    const struct authz_row *r = name ? authz_row(op->snap, kind, "", name) : NULL;
    if (!r) {
        if (name)
            iam_no_entity(op, kind, name);
        return;
    }
    json_t *j = json_loadb((const char *)r->doc.p, r->doc.len, 0, NULL);
    json_t *tags = j ? json_object_get(j, "tags") : NULL;
    iam_open(op, "Tags");
    for (size_t i = 0; i < json_array_size(tags); i++) {
        json_t *t = json_array_get(tags, i);
        iam_open(op, "member");
        iam_elem(op, "Key", json_string_value(json_object_get(t, "Key")));
        iam_elem(op, "Value", json_string_value(json_object_get(t, "Value")));
        iam_close(op, "member");
    }
    iam_close(op, "Tags");
    iam_elem(op, "IsTruncated", "false");
    json_decref(j);
}

void iam_list_role_tags(struct iam_op *op)
{
    list_tags(op, "role", "RoleName", 64);
}

void iam_tag_user(struct iam_op *op)
{
    const char *name = iam_req_str(op, "UserName", 1, 128);
    if (name)
        (void)edit_entity(op, "user", name, apply_tags);
}

void iam_untag_user(struct iam_op *op)
{
    const char *name = iam_req_str(op, "UserName", 1, 128);
    if (name)
        (void)edit_entity(op, "user", name, apply_untag);
}

void iam_list_user_tags(struct iam_op *op)
{
    list_tags(op, "user", "UserName", 128);
}
