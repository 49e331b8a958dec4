/*
 * fuzz_createjob.c - S3 Control CreateJob bodies as create.c reads them: xml_parse, then
 * s3c_parse_create (every operation, manifest, generator filter and report shape, the
 * NewObjectMetadata, Object Lock and tag lists), which must refuse or fill the definition
 * with every string terminated inside its buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/s3control/s3control_int.h"
#include "api/xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TERMINATED(s) (memchr((s), 0, sizeof(s)) != NULL)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct s3c_op op;
    static struct batch_def d;
    static struct batch_tags t;
    xmlDocPtr doc = NULL;
    if (xml_parse(qr_slice(data, size), &doc) != QR_OK)
        return 0;
    memset(&op, 0, sizeof(op));
    bool ok = s3c_parse_create(&op, doc, &d, &t);
    if (ok != (op.err_code == NULL))
        abort(); /* a refusal always says why, a success never does */
    if (ok) {
        if (!TERMINATED(d.function_arn) || !TERMINATED(d.target_resource) ||
            !TERMINATED(d.target_prefix) || !TERMINATED(d.meta_type) || !TERMINATED(d.meta_cache) ||
            !TERMINATED(d.mf_arn) || !TERMINATED(d.role_arn) || !TERMINATED(d.description) ||
            d.n_meta_user > BATCH_MAX_USER_META || d.n_obj_tags > BATCH_MAX_OBJ_TAGS ||
            d.n_user_args > BATCH_MAX_USER_ARGS || t.n > BATCH_MAX_JOB_TAGS)
            abort();
        for (size_t i = 0; i < d.n_meta_user; i++)
            if (!TERMINATED(d.meta_user[i].key) || !TERMINATED(d.meta_user[i].value) ||
                strpbrk(d.meta_user[i].value, "\r\n"))
                abort(); /* a header split in the making */
        if (strpbrk(d.meta_type, "\r\n") || strpbrk(d.meta_disposition, "\r\n"))
            abort();
    }
    xmlFreeDoc(doc);
    return 0;
}
