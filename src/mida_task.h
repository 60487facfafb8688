/* mida_task.h - task records (ARCHITECTURE 3.1): parsing and validation.
 *
 * A task record is a JSON object; JSON lines are the exchange form between
 * adapters and the mapper.  What a record describes depends on its ids:
 *
 *   has task_id                     -> a task of workflow run workflow_id
 *   no task_id, has workflow_id     -> the workflow run itself
 *   only campaign_id                -> the campaign
 *
 * (an explicit "type": "task" | "workflow" | "campaign" must agree).
 *
 * | field                          | JSON type            | notes                          |
 * |--------------------------------|----------------------|--------------------------------|
 * | task_id, workflow_id,          | string or integer    | non-empty, at most 1024 bytes  |
 * |   campaign_id, parent_task_id  |                      |                                |
 * | workflow_name, activity_id,    | string               |                                |
 * |   hostname, user, adapter_id,  |                      |                                |
 * |   environment_id, engine,      |                      |                                |
 * |   engine_version               |                      |                                |
 * | status                         | string               | SUBMITTED WAITING RUNNING      |
 * |                                |                      | FINISHED ERROR, any case, or a |
 * |                                |                      | common alias (see mida_status_ |
 * |                                |                      | parse); native_status keeps    |
 * |                                |                      | the tool's own word            |
 * | submitted_at, started_at,      | ISO 8601 string or   | normalised to UTC xsd:dateTime |
 * |   ended_at                     | seconds since epoch  |                                |
 * | used, generated                | object name -> value |                                |
 * | dependencies                   | array of ids         |                                |
 * | telemetry_at_start, _at_end    | object               |                                |
 * | stdout, stderr                 | string               | bounded by the mapper          |
 * | exit_code                      | integer              |                                |
 * | tags                           | string or array      |                                |
 * | custom_metadata                | any JSON             |                                |
 *
 * Unknown fields are reported (mida_task_unknown_fields) and not mapped.
 */
#ifndef MIDA_TASK_H
#define MIDA_TASK_H

typedef enum {
    MIDA_STATUS_NONE = 0,
    MIDA_STATUS_SUBMITTED,
    MIDA_STATUS_WAITING,
    MIDA_STATUS_RUNNING,
    MIDA_STATUS_FINISHED,
    MIDA_STATUS_ERROR
} mida_status_t;

typedef enum {
    MIDA_RECORD_TASK = 1,
    MIDA_RECORD_WORKFLOW,
    MIDA_RECORD_CAMPAIGN
} mida_record_kind_t;

/* A validated record.  The strings point into the record and stay valid
 * until it is destroyed; absent fields are NULL (times: ""). */
typedef struct mida_task {
    mida_record_kind_t kind;
    const char *task_id, *workflow_id, *workflow_name, *campaign_id, *activity_id;
    const char *parent_task_id;
    mida_status_t status;
    const char *native_status;          /* the status word as the tool wrote it */
    char submitted_at[40], started_at[40], ended_at[40]; /* xsd:dateTime or "" */
    const char *hostname, *user, *adapter_id, *environment_id, *engine, *engine_version;
    const char *stdout_text, *stderr_text;
    bool has_exit_code;
    long long exit_code;
    /* The JSON parts, as jansson values (json_t *), borrowed from the
     * record; NULL when absent.  void * keeps jansson out of this header. */
    void *used, *generated, *dependencies, *telemetry_at_start, *telemetry_at_end, *tags,
        *custom_metadata;
    void *root_;      /* the whole record (owned) */
    char *ids_;       /* storage for ids given as integers (owned) */
    size_t ids_len_;
    char unknown_[256]; /* unknown field names, comma-separated */
} mida_task_t;

/* Parses and validates one record from `len` bytes of JSON text.  On
 * success *out is a new record that the caller owns and must destroy.  On
 * failure returns MIDA_EPARSE (not JSON) or MIDA_ERECORD (JSON, but not a
 * valid record) and writes "field 'X': reason" (or the JSON error with its
 * column) to err. */
MIDA_EXPORT int mida_task_parse(const char *text, size_t len, mida_task_t **out, char *err,
                                size_t errlen);
MIDA_EXPORT void mida_task_destroy(mida_task_t **self_p);
/* Comma-separated names of fields the record had that mida does not map;
 * "" when none.  Owned by the record. */
MIDA_EXPORT const char *mida_task_unknown_fields(const mida_task_t *task);

/* "RUNNING" -> MIDA_STATUS_RUNNING; case-insensitive; also accepts common
 * tool words (PENDING, QUEUED, STARTED, DONE, COMPLETED, SUCCESS, FAILED,
 * ...).  MIDA_STATUS_NONE if unknown. */
MIDA_EXPORT mida_status_t mida_status_parse(const char *word);
/* "SUBMITTED", ...; NULL for NONE. */
MIDA_EXPORT const char *mida_status_name(mida_status_t status);
/* The order status moves in: SUBMITTED 1 < WAITING 2 < RUNNING 3 <
 * FINISHED = ERROR 4. */
MIDA_EXPORT int mida_status_rank(mida_status_t status);

/* Normalises a time (ISO 8601 text, with or without zone - none means UTC -
 * or seconds since the epoch as decimal text) to the canonical UTC
 * xsd:dateTime "YYYY-MM-DDThh:mm:ss[.ffffff]Z" in out (>= 40 bytes).
 * MIDA_EINVAL if it is not a time. */
MIDA_EXPORT int mida_time_normalize(const char *text, char *out, size_t outlen);
MIDA_EXPORT int mida_time_from_epoch(double seconds, char *out, size_t outlen);
/* The same from microseconds since the epoch, exactly (no rounding
 * through a double): what adapters reading integer times use. */
MIDA_EXPORT int mida_time_from_epoch_us(long long micros, char *out, size_t outlen);

#endif
