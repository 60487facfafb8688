/* mida_capture.h - the capture API: a program reports its own tasks
 * (ARCHITECTURE 1, issue 3 item 7).  The Python module
 * adapters/python/mida_capture.py is a thin layer over these calls.
 *
 *   mida_capture_t *t = mida_task_begin(em, "wf-42", "train-7", "train",
 *                                       "{\"workflow_name\": \"hyper-parameter search\"}",
 *                                       err, sizeof err);
 *   mida_task_set(t, "tags", "[\"gpu\"]");
 *   mida_task_used(t, "lr", "0.01");
 *   mida_task_used(t, "dataset", "\"/data/train.h5\"");     // a path: a data reference
 *   ...the work...
 *   mida_task_generated(t, "loss", "0.137");
 *   mida_task_end(&t, "FINISHED", NULL);                   // sends, frees, t = NULL
 *
 * A capture builds one task record (docs/records.md) and hands it to an
 * emitter (mida_emitter.h) twice: a RUNNING record from mida_task_begin,
 * so that live views see the task while it runs, and the full record from
 * mida_task_end.  The integrator merges the two (later fields complete
 * earlier ones; the status only moves forward).  Mapping to PROV-O and
 * sending happen on the emitter's thread; the calls here cost a few
 * small allocations and two telemetry samples (mida_telemetry.h).
 *
 * What the capture fills in:
 *
 * | field              | set by                                                  |
 * |--------------------|---------------------------------------------------------|
 * | workflow_id,       | mida_task_begin (task_id NULL: the record describes the |
 * |   task_id,         | workflow run itself, see docs/records.md)               |
 * |   activity_id      |                                                         |
 * | status             | RUNNING, then the status given to mida_task_end        |
 * | started_at,        | the time of mida_task_begin / of the end, UTC with      |
 * |   ended_at         | microseconds                                            |
 * | telemetry_at_start,| samples at begin and at end; the end sample's           |
 * |   telemetry_at_end | cpu_percent covers the task's own duration              |
 * | hostname, user     | gethostname(), the effective user's name (overridable)  |
 * | adapter_id         | "mida-capture" (overridable)                            |
 * | stderr             | the end's `message` is appended (the error text of an   |
 * |                    | ERROR), after any stderr given with mida_task_set       |
 * | used, generated    | mida_task_used / mida_task_generated                    |
 * | anything else      | mida_task_set                                           |
 *
 * Values are JSON text: "0.01", "\"text\"", "{\"a\": [1, 2]}", "null".
 * A string that is an absolute path or a file:/http(s):/s3:/gs:/globus: URI,
 * or an object {"@id": ...}, is a data reference: the integrator promotes
 * it to a shared data entity, which is how workflows get linked.  The text
 * is kept as written (numbers keep every digit); line breaks between tokens
 * are turned into spaces so that a record stays one JSON line.
 *
 * Limits: a value or field is at most MIDA_CAPTURE_MAX_VALUE bytes of JSON
 * and a record at most MIDA_CAPTURE_MAX_RECORD; beyond, MIDA_ETOOBIG.
 *
 * Ownership and threads: mida_task_begin returns a new capture that the
 * caller owns; mida_task_end and mida_capture_destroy free it and set the
 * caller's pointer to NULL.  The emitter is borrowed: it must outlive every
 * capture made with it.  A capture is used by one thread at a time;
 * different captures may be used from different threads at once (the
 * emitter is thread-safe).
 *
 * Errors: 0, or MIDA_EINVAL (bad argument, a field the capture owns, a
 * value of the wrong type for its field), MIDA_EPARSE (a value that is not
 * JSON), MIDA_ETOOBIG, MIDA_ENOMEM, or what mida_emitter_send returned
 * (MIDA_EAGAIN: the emitter's buffers were full and the record was
 * dropped).  The reason is kept: mida_capture_errmsg.
 */
#ifndef MIDA_CAPTURE_H
#define MIDA_CAPTURE_H

#define MIDA_CAPTURE_MAX_VALUE (1u << 20)   /* bytes of JSON per value / field */
#define MIDA_CAPTURE_MAX_RECORD (16u << 20) /* bytes per record */

typedef struct mida_capture mida_capture_t;

/* Starts a task: records started_at, hostname, user and telemetry_at_start,
 * sets the optional fields in `fields_json` (NULL, or a JSON object of
 * fields as mida_task_set takes them: {"workflow_name": "...", "engine":
 * "..."}) and, when `em` is not NULL, sends a RUNNING record right away (if
 * that send fails - buffers full - the task goes on: the end record
 * carries everything).  `em` may be NULL: records are then only built, for
 * mida_task_record (tests, writing records to a file).  `task_id` NULL
 * makes a capture of the workflow run itself; `activity_id` may be NULL.
 * Ids are non-empty UTF-8, at most 1024 bytes; the strings are copied.
 *
 * Give the fields that name agents - engine, engine_version, adapter_id,
 * user - here rather than with mida_task_set: the RUNNING record already
 * associates the task with its agents (engine, else adapter_id, and user),
 * and an agent named only later is added as a second one, not a
 * replacement.  The other fields may come at any time.
 *
 * Caller owns the returned capture and must end or destroy it.  NULL, with
 * the reason in err, on bad arguments (a field of fields_json included) or
 * ENOMEM. */
MIDA_EXPORT mida_capture_t *mida_task_begin(mida_emitter_t *em, const char *workflow_id,
                                            const char *task_id, const char *activity_id,
                                            const char *fields_json, char *err, size_t errlen);

/* Sets an optional record field (docs/records.md): workflow_name,
 * campaign_id, activity_id, parent_task_id, dependencies, tags, custom_metadata,
 * submitted_at, native_status, hostname, user, adapter_id, environment_id,
 * engine, engine_version, stdout, stderr, exit_code.  json_value is JSON
 * text of the field's type ("\"name\"", "[\"t1\", \"t2\"]", "3"), checked
 * by the same rules as a received record; NULL removes the field.  Setting
 * a field again replaces it.  MIDA_EINVAL for an unknown field, a field
 * the capture owns (workflow_id, task_id, status, started_at, ended_at,
 * used, generated, telemetry_*) or a value of the wrong type. */
MIDA_EXPORT int mida_task_set(mida_capture_t *t, const char *field, const char *json_value);

/* Records a value the task used / generated under `name` (non-empty, at
 * most 1024 bytes; the same name again replaces the value).  json_value is
 * any JSON text; NULL means JSON null (the value exists, without content). */
MIDA_EXPORT int mida_task_used(mida_capture_t *t, const char *name, const char *json_value);
MIDA_EXPORT int mida_task_generated(mida_capture_t *t, const char *name, const char *json_value);

/* Sends the record as it stands, with status RUNNING: a progress update
 * (the values recorded so far become visible before the task ends).
 * MIDA_EINVAL when the capture has no emitter or has ended. */
MIDA_EXPORT int mida_task_send(mida_capture_t *t);

/* The record as it would be sent now with `status` (NULL = "RUNNING"), as
 * one line of JSON without the newline.  A final status (FINISHED, ERROR or
 * a tool word for them such as "FAILED", see mida_status_parse) ends the
 * task: the first such call fixes ended_at and telemetry_at_end, and
 * `message` (may be NULL) is appended to stderr; later calls reuse them
 * (a non-NULL message replaces the earlier one).  A non-final status after
 * that is MIDA_EINVAL.  Caller owns *json_out and must free() it. */
MIDA_EXPORT int mida_task_record(mida_capture_t *t, const char *status, const char *message,
                                 char **json_out);

/* Ends the task: status (NULL = "FINISHED"; must be final, see above),
 * ended_at, telemetry_at_end, `message` appended to stderr (the error text
 * when status is "ERROR"; may be NULL); sends the full record when the
 * capture has an emitter; frees the capture and sets *t_p to NULL, whatever
 * the result.  0, MIDA_EINVAL for a status that is not final (nothing is
 * sent), or the send's error. */
MIDA_EXPORT int mida_task_end(mida_capture_t **t_p, const char *status, const char *message);

/* Frees a capture without sending anything; NULL-safe, sets *t_p = NULL. */
MIDA_EXPORT void mida_capture_destroy(mida_capture_t **t_p);

/* Why the last call on this capture failed; "" after a success.  Owned by
 * the capture, valid until the next call on it. */
MIDA_EXPORT const char *mida_capture_errmsg(const mida_capture_t *t);

#endif
