/*
 * schema.c - the store's SQLite side: opening connections (WAL), the schema, the one
 * table of SQL statements with its per-connection cache, and small bind/column helpers.
 *
 * Invariants kept by the schema:
 * - keys, bucket names and extents are BLOBs, bound with explicit lengths, so SQLite
 *   compares them with memcmp (S3's byte order); nothing is ever bound as TEXT from user
 *   bytes, so no collation or encoding touches them;
 * - objects are unique on (bucket_id, key, version_id); a bucket that never had
 *   versioning holds only 'null' versions. Exactly one row of a key has latest = 1 (the
 *   current version, possibly a delete marker: marker = 1, no bytes). Versions of a key
 *   are ordered by rowid: a new version is always inserted as a new row (SQLite gives it
 *   a rowid above every existing one), never updated in place - except the null version
 *   of a never-versioned bucket, the only row of its key;
 * - lock_mode/lock_until_ms/legal_hold: a version's Object Lock retention and legal hold;
 * - objects.data is NULL exactly when the object lives in extents (objects.ext, packed
 *   as STORE_EXT_BYTES per extent); an empty inline object has data = X'';
 * - objects.part_sizes is NULL when parts = 0, else parts * STORE_PART_SIZE_BYTES
 *   (each part's size, in part order) - or NULL for multipart rows written before the
 *   column existed, whose part boundaries are unknown;
 * - blobs.refcount counts extents (in objects and parts) that name the blob; a blob at 0
 *   has no row and is listed in gc until its file is gone.
 * Every statement here is an index lookup or an index range with a LIMIT, except the
 * open-time read of the gc table and the per-upload part scans (bounded by 10000 parts).
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS buckets(id INTEGER PRIMARY KEY, name BLOB NOT NULL UNIQUE,"
    " type INTEGER NOT NULL, created_ms INTEGER NOT NULL, region TEXT NOT NULL,"
    " zone TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS buckets_by_type ON buckets(type, name);"
    "CREATE TABLE IF NOT EXISTS objects(id INTEGER PRIMARY KEY, bucket_id INTEGER NOT NULL,"
    " key BLOB NOT NULL, version_id TEXT NOT NULL DEFAULT 'null', size INTEGER NOT NULL,"
    " mtime_ms INTEGER NOT NULL, etag TEXT NOT NULL, headers BLOB NOT NULL, tags BLOB NOT NULL,"
    " ck_alg INTEGER NOT NULL, ck_type INTEGER NOT NULL, ck_value TEXT NOT NULL,"
    " parts INTEGER NOT NULL, data BLOB, ext BLOB, part_sizes BLOB,"
    " UNIQUE(bucket_id, key, version_id));"
    "CREATE TABLE IF NOT EXISTS blobs(id INTEGER PRIMARY KEY, refcount INTEGER NOT NULL,"
    " size INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS gc(blob INTEGER PRIMARY KEY);"
    "CREATE TABLE IF NOT EXISTS uploads(id TEXT PRIMARY KEY, bucket_id INTEGER NOT NULL,"
    " key BLOB NOT NULL, created_ms INTEGER NOT NULL, headers BLOB NOT NULL,"
    " tags BLOB NOT NULL, ck_alg INTEGER NOT NULL, ck_type INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads(bucket_id, key, created_ms, id);"
    /* Completed uploads, remembered for a day so a retried CompleteMultipartUpload (SDKs
     * retry after a lost response) gets the same answer as the first; see mpu.c. */
    "CREATE TABLE IF NOT EXISTS completed_uploads(id TEXT PRIMARY KEY,"
    " bucket_id INTEGER NOT NULL, key BLOB NOT NULL, etag TEXT NOT NULL,"
    " ck_alg INTEGER NOT NULL, ck_type INTEGER NOT NULL, ck_value TEXT NOT NULL,"
    " done_ms INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS completed_uploads_by_time ON completed_uploads(done_ms);"
    "CREATE TABLE IF NOT EXISTS parts(upload TEXT NOT NULL, number INTEGER NOT NULL,"
    " size INTEGER NOT NULL, etag TEXT NOT NULL, ck_alg INTEGER NOT NULL,"
    " ck_type INTEGER NOT NULL, ck_value TEXT NOT NULL, mtime_ms INTEGER NOT NULL,"
    " ext BLOB NOT NULL, PRIMARY KEY(upload, number)) WITHOUT ROWID;"
    /* Lambda (fn.c): vnum 0 is $LATEST; reserved, tags, last_published and published_rev
     * are meaningful in the $LATEST row only (they belong to the function). */
    "CREATE TABLE IF NOT EXISTS functions(name TEXT NOT NULL, vnum INTEGER NOT NULL,"
    " revision TEXT NOT NULL, code_sha256 TEXT NOT NULL, code_size INTEGER NOT NULL,"
    " state INTEGER NOT NULL, last_modified_ms INTEGER NOT NULL, reserved INTEGER,"
    " last_published INTEGER NOT NULL, published_rev TEXT NOT NULL, config TEXT NOT NULL,"
    " tags TEXT NOT NULL, PRIMARY KEY(name, vnum)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS fn_aliases(function TEXT NOT NULL, name TEXT NOT NULL,"
    " version INTEGER NOT NULL, revision TEXT NOT NULL, description TEXT NOT NULL,"
    " routing TEXT NOT NULL, PRIMARY KEY(function, name)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS fn_events(id INTEGER PRIMARY KEY, request_id TEXT NOT NULL,"
    " target TEXT NOT NULL, payload BLOB NOT NULL, enqueued_ms INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL, next_attempt_ms INTEGER NOT NULL,"
    " leased INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS fn_events_due ON fn_events(next_attempt_ms, id);"
    /* IAM (iam.c, store_iam.h): every entity a row, its attributes a document */
    "CREATE TABLE IF NOT EXISTS iam(kind TEXT NOT NULL, parent TEXT NOT NULL, name TEXT NOT NULL,"
    " doc BLOB NOT NULL, PRIMARY KEY(kind, parent, name)) WITHOUT ROWID;";

#define OBJ_COLS_SET                                                                               \
    "size=excluded.size, mtime_ms=excluded.mtime_ms, etag=excluded.etag,"                          \
    " headers=excluded.headers, tags=excluded.tags, ck_alg=excluded.ck_alg,"                       \
    " ck_type=excluded.ck_type, ck_value=excluded.ck_value, parts=excluded.parts,"                 \
    " data=excluded.data, ext=excluded.ext, part_sizes=excluded.part_sizes, sse=excluded.sse"

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [ST_BEGIN] = "BEGIN",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_SAVEPOINT] = "SAVEPOINT chg",
    [ST_RELEASE] = "RELEASE chg",
    [ST_ROLLBACK_TO] = "ROLLBACK TO chg",
    [ST_META_GET] = "SELECT v FROM meta WHERE k=?1",
    [ST_META_SET] = "INSERT INTO meta(k,v) VALUES(?1,?2) ON CONFLICT(k) DO UPDATE SET v=excluded.v",
    [ST_BUCKET_ID] = "SELECT id FROM buckets WHERE name=?1",
    [ST_BUCKET_GET] = "SELECT name,type,created_ms,region,zone,sse,versioning,lock_enabled,"
                      "lock_mode,lock_days,lock_years FROM buckets WHERE name=?1",
    [ST_BUCKET_SET_SSE] = "UPDATE buckets SET sse=?2 WHERE name=?1",
    [ST_BUCKET_SET_VERSIONING] = "UPDATE buckets SET versioning=?2 WHERE name=?1",
    [ST_BUCKET_SET_LOCK] = "UPDATE buckets SET lock_enabled=1, versioning=1, lock_mode=?2,"
                           " lock_days=?3, lock_years=?4 WHERE name=?1",
    [ST_BUCKET_VSTATE] = "SELECT id,versioning,lock_enabled,lock_mode,lock_days,lock_years"
                         " FROM buckets WHERE name=?1",
    [ST_BUCKET_INSERT] =
        "INSERT INTO buckets(name,type,created_ms,region,zone,versioning,lock_enabled)"
        " VALUES(?1,?2,?3,?4,?5,?6,?7)",
    [ST_BUCKET_DELETE] = "DELETE FROM buckets WHERE id=?1",
    [ST_BUCKET_LIST] = "SELECT name,type,created_ms,region,zone,sse,versioning,lock_enabled,"
                       "lock_mode,lock_days,lock_years FROM buckets"
                       " WHERE type=?1 AND name>?2 ORDER BY name LIMIT ?3",
    [ST_BUCKET_ANY_OBJECT] = "SELECT 1 FROM objects WHERE bucket_id=?1 LIMIT 1",
/* The statements of a key's current version (latest=1) name objects_latest, so no
 * other index that seeks on (bucket_id, key) can take its place: those would walk every
 * version of the key (or of a listed range) to find the current ones. */
#define CURRENT "objects INDEXED BY objects_latest"
#define W_OBJ_COLS "id,etag,ext,size,mtime_ms,marker,version_id,lock_mode,lock_until_ms,legal_hold"
    [ST_OBJ_FIND] = "SELECT " W_OBJ_COLS " FROM " CURRENT " WHERE bucket_id=?1 AND key=?2"
                    " AND latest=1",
    [ST_OBJ_FIND_V] =
        "SELECT " W_OBJ_COLS " FROM objects WHERE bucket_id=?1 AND key=?2 AND version_id=?3",
#undef W_OBJ_COLS
#define FULL_COLS                                                                                  \
    "SELECT size,etag,headers,tags,ck_alg,ck_type,ck_value,parts,data,ext,part_sizes,sse,"         \
    "marker,mtime_ms FROM "
    [ST_OBJ_FULL] = FULL_COLS CURRENT " WHERE bucket_id=?1 AND key=?2 AND latest=1",
    [ST_OBJ_FULL_V] = FULL_COLS "objects WHERE bucket_id=?1 AND key=?2 AND version_id=?3",
#undef FULL_COLS
    [ST_OBJ_INSERT_V] = "INSERT INTO objects(bucket_id,key,size,mtime_ms,etag,headers,tags,ck_alg,"
                        "ck_type,ck_value,parts,data,ext,part_sizes,sse,version_id,marker,"
                        "lock_mode,lock_until_ms,legal_hold,latest)"
                        " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,"
                        "?19,?20,1)",
    [ST_OBJ_UNLATEST] = "UPDATE objects SET latest=0 WHERE id=?1",
    /* The newest remaining row of the key: the newest with an id (one seek of
     * objects_by_key_seq, whose WHERE the query repeats so SQLite may use it) or the null
     * version (one seek), whichever is newer; id 0 (none) names no row. Writes nothing
     * when the newest already is current. */
    [ST_OBJ_PROMOTE] = "UPDATE objects SET latest=1 WHERE id=max("
                       "coalesce((SELECT id FROM objects WHERE bucket_id=?1 AND key=?2"
                       " AND version_id<>'null' ORDER BY id DESC LIMIT 1),0),"
                       "coalesce((SELECT id FROM objects WHERE bucket_id=?1 AND key=?2"
                       " AND version_id='null'),0)) AND latest=0",
    [ST_OBJ_SET_TAGS_V] = "UPDATE objects SET tags=?3 WHERE bucket_id=?1 AND key=?2"
                          " AND version_id=?4 AND marker=0",
    [ST_OBJ_SET_RETENTION] = "UPDATE objects SET lock_mode=?2, lock_until_ms=?3 WHERE id=?1",
    [ST_OBJ_SET_HOLD] = "UPDATE objects SET legal_hold=?2 WHERE id=?1",
    [ST_OBJ_UPSERT] = "INSERT INTO objects(bucket_id,key,size,mtime_ms,etag,headers,tags,ck_alg,"
                      "ck_type,ck_value,parts,data,ext,part_sizes,sse)"
                      " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)"
                      " ON CONFLICT(bucket_id,key,version_id) DO UPDATE SET " OBJ_COLS_SET,
    /* ST_OBJ_UPSERT's update, of a row whose id the writer already found: the same
     * columns, parameters and result, one rowid seek instead of the unique index's */
    [ST_OBJ_REWRITE] = "UPDATE objects SET size=?3, mtime_ms=?4, etag=?5, headers=?6, tags=?7,"
                       " ck_alg=?8, ck_type=?9, ck_value=?10, parts=?11, data=?12, ext=?13,"
                       " part_sizes=?14, sse=?15"
                       " WHERE id=?16 AND bucket_id=?1 AND key=?2 AND version_id='null'",
    [ST_OBJ_DELETE] = "DELETE FROM objects WHERE id=?1",
    [ST_OBJ_SET_TAGS] = "UPDATE " CURRENT " SET tags=?3 WHERE bucket_id=?1 AND key=?2 AND latest=1"
                        " AND marker=0",
#define OBJ_GET_COLS                                                                               \
    "SELECT o.id,o.size,o.mtime_ms,o.etag,o.headers,o.tags,o.ck_alg,o.ck_type,"                    \
    "o.ck_value,o.parts,o.data IS NULL,CASE WHEN ?3 THEN o.data END,o.ext,"                        \
    "o.part_sizes,o.sse,o.version_id,o.marker,o.lock_mode,o.lock_until_ms,o.legal_hold,"           \
    "b.versioning"                                                                                 \
    " FROM buckets b LEFT JOIN "
    [ST_OBJ_GET] = OBJ_GET_COLS "objects o INDEXED BY objects_latest ON o.bucket_id=b.id"
                                " AND o.key=?2 AND o.latest=1 WHERE b.name=?1",
    [ST_OBJ_GET_V] = OBJ_GET_COLS "objects o ON o.bucket_id=b.id AND o.key=?2"
                                  " AND o.version_id=?4 WHERE b.name=?1",
#undef OBJ_GET_COLS
#define LIST_COLS                                                                                  \
    "SELECT key,size,mtime_ms,etag,ck_alg,ck_type,version_id,marker,latest,headers FROM "
    /* The latest versions that are not delete markers. A marker still ends the query (it is
     * a row of the range) but is skipped by list.c, so a page of keys whose latest is a
     * marker costs rows, never a wrong answer. */
    [ST_LIST_BOUNDED] = LIST_COLS CURRENT " WHERE bucket_id=?1 AND key>=?2 AND key<?3"
                                          " AND latest=1 ORDER BY key LIMIT ?4",
    [ST_LIST_UNBOUNDED] = LIST_COLS CURRENT " WHERE bucket_id=?1 AND key>=?2 AND latest=1"
                                            " ORDER BY key LIMIT ?4",
    /* every version: key order, newest (highest rowid) first */
    [ST_LISTV_BOUNDED] = LIST_COLS "objects WHERE bucket_id=?1 AND key>=?2 AND key<?3"
                                   " ORDER BY key, id DESC LIMIT ?4",
    [ST_LISTV_UNBOUNDED] =
        LIST_COLS "objects WHERE bucket_id=?1 AND key>=?2 ORDER BY key, id DESC LIMIT ?4",
    [ST_LISTV_KEY_REST] = LIST_COLS "objects WHERE bucket_id=?1 AND key=?2 AND id<(SELECT id"
                                    " FROM objects"
                                    " WHERE bucket_id=?1 AND key=?2 AND version_id=?3)"
                                    " ORDER BY id DESC LIMIT ?4",
#undef LIST_COLS
#undef CURRENT
    [ST_BLOB_INSERT] = "INSERT INTO blobs(id,refcount,size,sse) VALUES(?1,1,?2,?3)",
    [ST_BLOB_INC] = "UPDATE blobs SET refcount=refcount+1 WHERE id=?1",
    [ST_BLOB_DEC] = "UPDATE blobs SET refcount=refcount-1 WHERE id=?1 RETURNING refcount",
    [ST_BLOB_DELETE] = "DELETE FROM blobs WHERE id=?1",
    [ST_BLOB_EXISTS] = "SELECT 1 FROM blobs WHERE id=?1",
    [ST_BLOB_SSE] = "SELECT sse FROM blobs WHERE id=?1",
    [ST_GC_INSERT] = "INSERT OR IGNORE INTO gc(blob) VALUES(?1)",
    [ST_GC_DELETE] = "DELETE FROM gc WHERE blob=?1",
    [ST_GC_ALL] = "SELECT blob FROM gc ORDER BY blob",
    [ST_UP_INSERT] = "INSERT INTO uploads(id,bucket_id,key,created_ms,headers,tags,ck_alg,ck_type,"
                     "sse,lock_mode,lock_until_ms,legal_hold)"
                     " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
    [ST_UP_LOCK] = "SELECT lock_mode,lock_until_ms,legal_hold FROM uploads WHERE id=?1",
    [ST_UP_FIND] = "SELECT u.headers,u.tags,u.bucket_id,u.key,u.created_ms,u.ck_alg,u.ck_type,"
                   "u.sse"
                   " FROM uploads u JOIN buckets b ON b.id=u.bucket_id"
                   " WHERE u.id=?1 AND b.name=?2 AND u.key=?3",
    [ST_UP_DELETE] = "DELETE FROM uploads WHERE id=?1",
    [ST_UP_OF_BUCKET] = "SELECT id FROM uploads WHERE bucket_id=?1 LIMIT 1",
    [ST_UP_CREATED] = "SELECT created_ms FROM uploads WHERE id=?1 AND bucket_id=?2 AND key=?3",
    [ST_UP_LIST_BOUNDED] = "SELECT id,key,created_ms,ck_alg,ck_type,headers FROM uploads"
                           " WHERE bucket_id=?1 AND (key,created_ms,id)>(?2,?3,?4) AND key<?5"
                           " ORDER BY key,created_ms,id LIMIT ?6",
    [ST_UP_LIST_UNBOUNDED] = "SELECT id,key,created_ms,ck_alg,ck_type,headers FROM uploads"
                             " WHERE bucket_id=?1 AND (key,created_ms,id)>(?2,?3,?4)"
                             " ORDER BY key,created_ms,id LIMIT ?6",
    [ST_DONE_INSERT] = "INSERT OR REPLACE INTO completed_uploads(id,bucket_id,key,etag,ck_alg,"
                       "ck_type,ck_value,done_ms,version_id) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
    [ST_DONE_FIND] =
        "SELECT d.etag,d.ck_alg,d.ck_type,d.ck_value,d.version_id FROM completed_uploads d"
        " JOIN buckets b ON b.id=d.bucket_id"
        " WHERE d.id=?1 AND b.name=?2 AND d.key=?3 AND d.done_ms>=?4",
    [ST_DONE_EXPIRE] = "DELETE FROM completed_uploads WHERE id IN (SELECT id FROM"
                       " completed_uploads WHERE done_ms<?1 ORDER BY done_ms LIMIT 16)",
    [ST_PART_FIND] = "SELECT size,etag,ext FROM parts WHERE upload=?1 AND number=?2",
    [ST_PART_UPSERT] = "INSERT INTO parts(upload,number,size,etag,ck_alg,ck_type,ck_value,"
                       "mtime_ms,ext) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)"
                       " ON CONFLICT(upload,number) DO UPDATE SET size=excluded.size,"
                       " etag=excluded.etag, ck_alg=excluded.ck_alg, ck_type=excluded.ck_type,"
                       " ck_value=excluded.ck_value, mtime_ms=excluded.mtime_ms,"
                       " ext=excluded.ext",
    [ST_PART_ALL] = "SELECT number,size,etag,ext FROM parts WHERE upload=?1 ORDER BY number",
    [ST_PART_DELETE_ALL] = "DELETE FROM parts WHERE upload=?1",
    [ST_PART_LIST] = "SELECT number,size,mtime_ms,etag,ck_alg,ck_type,ck_value FROM parts"
                     " WHERE upload=?1 AND number>?2 ORDER BY number LIMIT ?3",

#define FN_COLS                                                                                    \
    "SELECT f.name,f.vnum,f.revision,f.code_sha256,f.code_size,f.state,f.last_modified_ms,"        \
    "l.reserved,l.last_published,f.config,l.tags FROM functions f"                                 \
    " JOIN functions l ON l.name=f.name AND l.vnum=0 "
    [ST_FN_GET] = FN_COLS "WHERE f.name=?1 AND f.vnum=?2",
    [ST_FN_LIST_ALL] = FN_COLS "WHERE (f.name,f.vnum)>(?1,?2) ORDER BY f.name,f.vnum LIMIT ?3",
    [ST_FN_LIST_LATEST] = FN_COLS "WHERE f.vnum=0 AND f.name>?1 ORDER BY f.name LIMIT ?3",
    [ST_FN_VERSIONS] = FN_COLS "WHERE f.name=?1 AND f.vnum>?2 ORDER BY f.vnum LIMIT ?3",
#undef FN_COLS
    [ST_FN_INSERT] = "INSERT INTO functions(name,vnum,revision,code_sha256,code_size,state,"
                     "last_modified_ms,reserved,last_published,published_rev,config,tags)"
                     " VALUES(?1,?2,?3,?4,?5,?6,?7,NULL,?8,?9,?10,?11)",
    [ST_FN_W_LATEST] = "SELECT revision,code_sha256,code_size,state,last_published,published_rev,"
                       "config FROM functions WHERE name=?1 AND vnum=0",
    [ST_FN_UPDATE] = "UPDATE functions SET revision=?2, code_sha256=?3, code_size=?4,"
                     " last_modified_ms=?5, config=?6 WHERE name=?1 AND vnum=0",
    [ST_FN_SET_PUBLISHED] =
        "UPDATE functions SET last_published=?2, published_rev=?3 WHERE name=?1 AND vnum=0",
    [ST_FN_EXISTS_V] = "SELECT 1 FROM functions WHERE name=?1 AND vnum=?2",
    [ST_FN_DELETE_ALL] = "DELETE FROM functions WHERE name=?1",
    [ST_FN_DELETE_V] = "DELETE FROM functions WHERE name=?1 AND vnum=?2",
    [ST_FN_SET_RESERVED] = "UPDATE functions SET reserved=?2 WHERE name=?1 AND vnum=0",
    [ST_FN_ALIAS_OF_V] = "SELECT 1 FROM fn_aliases WHERE function=?1 AND version=?2 LIMIT 1",
    [ST_FN_ALIAS_DELETE_ALL] = "DELETE FROM fn_aliases WHERE function=?1",
    [ST_FN_ALIAS_GET] = "SELECT function,name,version,revision,description,routing"
                        " FROM fn_aliases WHERE function=?1 AND name=?2",
    [ST_FN_ALIAS_INSERT] = "INSERT INTO fn_aliases(function,name,version,revision,description,"
                           "routing) VALUES(?1,?2,?3,?4,?5,?6)",
    [ST_FN_ALIAS_UPDATE] = "UPDATE fn_aliases SET version=?3, revision=?4, description=?5,"
                           " routing=?6 WHERE function=?1 AND name=?2",
    [ST_FN_ALIAS_DELETE] = "DELETE FROM fn_aliases WHERE function=?1 AND name=?2",
    [ST_FN_ALIAS_LIST] = "SELECT function,name,version,revision,description,routing"
                         " FROM fn_aliases WHERE function=?1 AND name>?2"
                         " AND (?3<0 OR version=?3) ORDER BY name LIMIT ?4",
    [ST_EV_INSERT] = "INSERT INTO fn_events(request_id,target,payload,enqueued_ms,attempts,"
                     "next_attempt_ms) VALUES(?1,?2,?3,?4,0,?4)",
    [ST_EV_DUE] = "SELECT id,request_id,target,payload,enqueued_ms,attempts FROM fn_events"
                  " WHERE next_attempt_ms<=?1 ORDER BY next_attempt_ms,id LIMIT ?2",
    [ST_EV_LEASE] = "UPDATE fn_events SET attempts=attempts+1, next_attempt_ms=?2, leased=1"
                    " WHERE id=?1",
    [ST_EV_UNLEASE] = "UPDATE fn_events SET leased=0, next_attempt_ms=?1 WHERE leased=1",
    [ST_EV_DELETE] = "DELETE FROM fn_events WHERE id=?1",
    [ST_EV_RETRY] = "UPDATE fn_events SET next_attempt_ms=?2, leased=0 WHERE id=?1",
    [ST_EV_NEXT] = "SELECT min(next_attempt_ms) FROM fn_events",
    [ST_JOB_W_GET] = "SELECT seq, state, cursor, pinned, man_ext FROM batch_jobs WHERE id=?1",
    [ST_JOB_RESULT_PUT] = "INSERT OR REPLACE INTO batch_results(job_seq,line,failed,bucket,key,"
                          "version,code,http,message) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
    [ST_JOB_PROGRESS] = "UPDATE batch_jobs SET cursor=?2, manifest_off=?3, succeeded=succeeded+?4,"
                        " failed=failed+?5, active_ms=active_ms+?6 WHERE seq=?1",
};

enum qr_err db_fail(sqlite3 *db, const char *what)
{
    fprintf(stderr, "store: %s: %s\n", what, db ? sqlite3_errmsg(db) : "no connection");
    return QR_E_DB;
}

/* Columns added after the first release, in order: a data directory made before one
 * existed gets it, NULL (or its constant default) in every old row: part boundaries never
 * recorded; bytes stored as given, i.e. not encrypted; no bucket encryption configured;
 * every existing row the only (null) version of its key, hence latest = 1 and no lock.
 * Adding a column that is nullable or has a constant default only rewrites the schema
 * text, not the rows, so this is instant on any size of table. Each is probed (a few
 * pragma reads at open) rather than trusted to user_version, which directories from
 * before it existed leave at 0 whatever they hold; user_version is then set to the number
 * of columns and indexes added (added_indexes), for tools and humans. */
static const char *const added_columns[][2] = {
    {"objects", "part_sizes BLOB"}, /* schema 1 */
    {"objects", "sse BLOB"},        /* schema 2: crypt_env of an encrypted object */
    {"blobs", "sse BLOB"},          /* schema 2: crypt_env of an encrypted blob */
    {"uploads", "sse BLOB"},        /* schema 2: crypt_env (mode, key MD5) of the upload */
    {"buckets", "sse TEXT"},        /* schema 2: default encryption rule, "" or NULL: none */
    /* schema 3: versioning and Object Lock (see the invariants above) */
    {"objects", "latest INTEGER NOT NULL DEFAULT 1"},
    {"objects", "marker INTEGER NOT NULL DEFAULT 0"},
    {"objects", "lock_mode INTEGER NOT NULL DEFAULT 0"},
    {"objects", "lock_until_ms INTEGER NOT NULL DEFAULT 0"},
    {"objects", "legal_hold INTEGER NOT NULL DEFAULT 0"},
    {"buckets", "versioning INTEGER NOT NULL DEFAULT 0"},
    {"buckets", "lock_enabled INTEGER NOT NULL DEFAULT 0"},
    {"buckets", "lock_mode INTEGER NOT NULL DEFAULT 0"},
    {"buckets", "lock_days INTEGER NOT NULL DEFAULT 0"},
    {"buckets", "lock_years INTEGER NOT NULL DEFAULT 0"},
    {"uploads", "lock_mode INTEGER NOT NULL DEFAULT 0"},
    {"uploads", "lock_until_ms INTEGER NOT NULL DEFAULT 0"},
    {"uploads", "legal_hold INTEGER NOT NULL DEFAULT 0"},
    {"completed_uploads", "version_id TEXT NOT NULL DEFAULT ''"},
};

/* Indexes added after the first release, made after the columns they name exist. Unlike
 * a column, a new index is built from every row, once, inside the migration's
 * transaction. user_version counts them with the columns. */
static const char *const added_indexes[] = {
    /* schema 3: a key's current version (and the current versions in key order) in one
     * lookup */
    "CREATE INDEX IF NOT EXISTS objects_latest ON objects(bucket_id, key) WHERE latest=1;",
    /* schema 4: a key's versions with ids, newest first (rowid order, version.c), so
     * deleting the current version finds its successor with one seek (ST_OBJ_PROMOTE)
     * instead of reading every version of the key and sorting them: the (bucket_id, key,
     * version_id) index orders them by id string. Partial: 'null' versions (every row of
     * a never-versioned bucket, and at most one row of any key) are left out, so a bucket
     * that never had versioning does not pay for one more entry per row; the one null
     * version of a key is a seek of that other index. */
    "CREATE INDEX IF NOT EXISTS objects_by_key_seq ON objects(bucket_id, key, id DESC)"
    " WHERE version_id<>'null';",
};

static bool has_column(sqlite3 *db, const char *table, const char *col)
{
    char sql[160];
    size_t n = strcspn(col, " ");
    snprintf(sql, sizeof(sql), "SELECT 1 FROM pragma_table_info('%s') WHERE name='%.*s'", table,
             (int)n, col);
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        return false;
    bool has = sqlite3_step(s) == SQLITE_ROW;
    sqlite3_finalize(s);
    return has;
}

static enum qr_err migrate_columns(sqlite3 *db)
{
    for (size_t i = 0; i < sizeof(added_columns) / sizeof(added_columns[0]); i++) {
        const char *t = added_columns[i][0], *c = added_columns[i][1];
        if (has_column(db, t, c))
            continue;
        char sql[160];
        snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN %s", t, c);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            return db_fail(db, "migrate");
    }
    for (size_t i = 0; i < sizeof(added_indexes) / sizeof(added_indexes[0]); i++)
        if (sqlite3_exec(db, added_indexes[i], NULL, NULL, NULL) != SQLITE_OK)
            return db_fail(db, "migrate index");
    char pragma[48];
    snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%zu;",
             sizeof(added_columns) / sizeof(added_columns[0]) +
                 sizeof(added_indexes) / sizeof(added_indexes[0]));
    if (sqlite3_exec(db, pragma, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(db, "migrate version");
    return QR_OK;
}

/* One transaction: a crash leaves the directory as it was or fully migrated, never with
 * half of a feature's columns (a rerun would finish it anyway: every step is probed). */
static enum qr_err migrate(sqlite3 *db)
{
    if (sqlite3_exec(db, "BEGIN IMMEDIATE;", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(db, "migrate begin");
    enum qr_err err = migrate_columns(db);
    if (err == QR_OK && sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK)
        err = db_fail(db, "migrate commit");
    if (err != QR_OK)
        (void)sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
    return err;
}

enum qr_err db_open(const char *path, bool readonly, bool no_fsync, bool gather_wal,
                    sqlite3 **out)
{
    enum qr_err err = QR_OK;
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_NOMUTEX |
                (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);

    /* the writer's WAL frames go out in one write per commit (walbuf.c); NULL: default */
    if (sqlite3_open_v2(path, &db, flags, gather_wal ? walbuf_vfs() : NULL) != SQLITE_OK) {
        err = db_fail(db, "open");
        goto out;
    }
    /* Readers never wait on the writer in WAL mode; the timeout only covers the moment a
     * checkpoint or recovery holds the shm lock. */
    sqlite3_busy_timeout(db, 5000);
    if (readonly)
        goto out;
    /* synchronous=FULL: the WAL is fsynced at every COMMIT, which is the durability point
     * of every change (blob files are fsynced before their rows are written). */
    const char *sync = no_fsync ? "PRAGMA synchronous=OFF;" : "PRAGMA synchronous=FULL;";
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL;", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, sync, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(db, schema_sql, NULL, NULL, NULL) != SQLITE_OK) {
        err = db_fail(db, "schema");
        goto out;
    }
    err = migrate(db);
out:
    if (err != QR_OK) {
        sqlite3_close(db);
        db = NULL;
    }
    *out = db;
    return err;
}

enum qr_err db_bucket_id(struct stmt_cache *c, struct qr_slice name, int64_t *out)
{
    sqlite3_stmt *s = stmt_get(c, ST_BUCKET_ID);
    if (s == NULL)
        return QR_E_DB;
    bind_bytes(s, 1, name);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc == SQLITE_DONE)
        return QR_E_NO_SUCH_BUCKET;
    if (rc != SQLITE_ROW)
        return db_fail(c->db, "bucket id");
    return QR_OK;
}

void stmt_cache_init(struct stmt_cache *c, sqlite3 *db)
{
    memset(c, 0, sizeof(*c));
    c->db = db;
}

void stmt_cache_dispose(struct stmt_cache *c)
{
    for (size_t i = 0; i < ST__COUNT; i++)
        sqlite3_finalize(c->s[i]);
    memset(c->s, 0, sizeof(c->s));
}

void stmt_cache_reset_busy(struct stmt_cache *c)
{
    for (size_t i = 0; i < ST__COUNT; i++)
        if (c->s[i] != NULL && sqlite3_stmt_busy(c->s[i]))
            sqlite3_reset(c->s[i]);
}

sqlite3_stmt *stmt_get(struct stmt_cache *c, enum stmt_id id)
{
    sqlite3_stmt *s = c->s[id];
    if (s == NULL) {
        if (sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) !=
            SQLITE_OK) {
            (void)db_fail(c->db, stmt_sql[id]);
            return NULL;
        }
        c->s[id] = s;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return s;
}

int store_debug_steps(struct store *st, enum stmt_id id)
{
    sqlite3_stmt *s = st->wc.s[id];
    return s == NULL ? 0 : sqlite3_stmt_status(s, SQLITE_STMTSTATUS_VM_STEP, 1);
}

enum qr_err stmt_exec(struct stmt_cache *c, enum stmt_id id)
{
    sqlite3_stmt *s = stmt_get(c, id);
    if (s == NULL)
        return QR_E_DB;
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(c->db, stmt_sql[id]);
    return QR_OK;
}

int bind_bytes(sqlite3_stmt *s, int i, struct qr_slice v)
{
    /* A NULL pointer would bind SQL NULL; an empty key/header set must stay X''. */
    static const uint8_t empty[1];
    return sqlite3_bind_blob64(s, i, v.len ? (const void *)v.p : (const void *)empty, v.len,
                               SQLITE_STATIC);
}

int bind_text(sqlite3_stmt *s, int i, const char *v)
{
    return sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_STATIC);
}

int bind_text_slice(sqlite3_stmt *s, int i, struct qr_slice v)
{
    return sqlite3_bind_text64(s, i, v.len ? (const char *)v.p : "", v.len, SQLITE_STATIC,
                               SQLITE_UTF8);
}

void *pool_alloc(h2o_mem_pool_t *pool, size_t n)
{
    return h2o_mem_alloc_pool(pool, n ? n : 1);
}

struct qr_slice col_slice(sqlite3_stmt *s, int i, h2o_mem_pool_t *pool)
{
    const void *p = sqlite3_column_blob(s, i);
    size_t n = (size_t)sqlite3_column_bytes(s, i);
    uint8_t *d = pool_alloc(pool, n);
    if (n)
        memcpy(d, p, n);
    return qr_slice(d, n);
}

void col_text(sqlite3_stmt *s, int i, char *out, size_t cap)
{
    const unsigned char *p = sqlite3_column_text(s, i);
    size_t n = (size_t)sqlite3_column_bytes(s, i);
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(out, p, n);
    out[n] = '\0';
}

void col_checksum(sqlite3_stmt *s, int alg, int type, int value, struct store_checksum *out)
{
    memset(out, 0, sizeof(*out));
    int a = sqlite3_column_int(s, alg);
    out->alg = (a >= STORE_CK_NONE && a <= STORE_CK_SHA256) ? (enum store_ck_alg)a : STORE_CK_NONE;
    out->type = sqlite3_column_int(s, type) == STORE_CK_COMPOSITE ? STORE_CK_COMPOSITE
                                                                  : STORE_CK_FULL_OBJECT;
    col_text(s, value, out->b64, sizeof(out->b64));
}

int64_t store_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum qr_err meta_get(struct stmt_cache *c, const char *k, uint64_t dflt, uint64_t *out)
{
    sqlite3_stmt *s = stmt_get(c, ST_META_GET);
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, k);
    int rc = sqlite3_step(s);
    uint64_t v = dflt;
    if (rc == SQLITE_ROW)
        v = (uint64_t)sqlite3_column_int64(s, 0);
    sqlite3_reset(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(c->db, "meta get");
    *out = v;
    return QR_OK;
}

enum qr_err meta_set(struct stmt_cache *c, const char *k, uint64_t v)
{
    sqlite3_stmt *s = stmt_get(c, ST_META_SET);
    if (s == NULL)
        return QR_E_DB;
    bind_text(s, 1, k);
    sqlite3_bind_int64(s, 2, (int64_t)v);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE)
        return db_fail(c->db, "meta set");
    return QR_OK;
}

void le64_put(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t le64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void ext_pack(const struct store_extent *e, size_t n, uint8_t *out)
{
    for (size_t i = 0; i < n; i++) {
        le64_put(out + i * STORE_EXT_BYTES, e[i].blob);
        le64_put(out + i * STORE_EXT_BYTES + 8, e[i].off);
        le64_put(out + i * STORE_EXT_BYTES + 16, e[i].len);
    }
}

static void ext_unpack_into(const void *p, size_t len, struct store_extent *out)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len / STORE_EXT_BYTES; i++) {
        out[i].blob = le64_get(b + i * STORE_EXT_BYTES);
        out[i].off = le64_get(b + i * STORE_EXT_BYTES + 8);
        out[i].len = le64_get(b + i * STORE_EXT_BYTES + 16);
    }
}

static enum qr_err ext_check(size_t len)
{
    if (len % STORE_EXT_BYTES != 0) {
        fprintf(stderr, "store: corrupt extent list (%zu bytes)\n", len);
        return QR_E_DB;
    }
    return QR_OK;
}

enum qr_err ext_unpack_heap(const void *p, size_t len, struct store_extent **out, size_t *out_n)
{
    enum qr_err err = ext_check(len);
    if (err != QR_OK)
        return err;
    size_t n = len / STORE_EXT_BYTES;
    struct store_extent *e = NULL;
    if (n) {
        e = qr_xmalloc(n * sizeof(*e));
        ext_unpack_into(p, len, e);
    }
    *out = e;
    *out_n = n;
    return QR_OK;
}

enum qr_err ext_unpack_pool(const void *p, size_t len, h2o_mem_pool_t *pool,
                            struct store_extent **out, size_t *out_n)
{
    enum qr_err err = ext_check(len);
    if (err != QR_OK)
        return err;
    size_t n = len / STORE_EXT_BYTES;
    struct store_extent *e = NULL;
    if (n) {
        e = pool_alloc(pool, n * sizeof(*e));
        ext_unpack_into(p, len, e);
    }
    *out = e;
    *out_n = n;
    return QR_OK;
}

void id_vec_push(struct id_vec *v, uint64_t id)
{
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 16;
        v->v = qr_xrealloc(v->v, v->cap * sizeof(*v->v));
    }
    v->v[v->n++] = id;
}

void id_vec_dispose(struct id_vec *v)
{
    free(v->v);
    memset(v, 0, sizeof(*v));
}
