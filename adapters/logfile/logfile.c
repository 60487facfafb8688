/* logfile.c - the `logfile` adapter: follows a file written by Python's
 * `logging` module and turns the log records that match a set of rules
 * into task records (docs/adapters/logfile.md).
 *
 * Owns: the rules file (read and checked once, at start), the tail of one
 * log file across rotations, the grouping of lines into log records, and
 * the evaluation of the rules' record templates.
 * Must not: write to the log or anywhere near it, touch the store.
 *
 * A log record is a line that matches the rules' `prefix` pattern plus
 * every following line that does not (a traceback, a multi-line message).
 * A record is complete once the next record's first line is there; the
 * last record of the file is held back until then, or until the file has
 * not changed for --quiet-period seconds, or until the file was rotated
 * away (its writer has moved on).  A line without its newline yet is never
 * read.
 *
 * The cursor is JSON: the device and inode of the file being read, the
 * offset and line number of the first record not yet handled, the file's
 * mtime then, a hash of its first bytes (to notice an inode number that
 * was reused, or a file truncated and refilled past the offset), and the
 * rules' variables (the workflow id a "Run id is ..." line set, say) as
 * they were at that offset.  Rotation:
 *   * RotatingFileHandler / TimedRotatingFileHandler / logrotate "create":
 *     the path now names another inode.  The old inode is looked for among
 *     the siblings PATH.*, PATH-* and PATH_* and read to its end from the
 *     saved offset; then the siblings written after it (oldest first:
 *     mtime, then the higher number of PATH.N first) and finally PATH.
 *   * logrotate copytruncate: same inode, size below the offset (or other
 *     first bytes): read again from the start.
 * Records are emitted in file order and the cursor is set after them, so
 * a restarted observer re-reads nothing it has delivered; what was held
 * back is read again.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "mida.h"
#include "common/zone.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LF_MAX_LINE (1u << 20)       /* longer lines are cut (the rest is dropped) */
#define LF_MAX_CONT (256u << 10)     /* continuation lines kept per record (the last ones) */
#define LF_MAX_TEXT (4u << 20)       /* one evaluated string */
#define LF_MAX_RULES_FILE (4u << 20)
#define LF_HEAD_BYTES 64             /* the fingerprint of a file */
#define LF_CURSOR_EVERY 4096         /* records between two cursor updates */
#define LF_MAX_SIBLINGS 4096

/* ---- rules ------------------------------------------------------------------ */

typedef enum {
    CONV_STR, CONV_INT, CONV_FLOAT, CONV_NUMBER, CONV_BOOL, CONV_JSON, CONV_LIST, CONV_KV,
    CONV_UPPER, CONV_LOWER, CONV_NONE
} lf_conv_t;

static const char *const s_conv_names[] = {"str",  "int", "float", "number", "bool",
                                           "json", "list", "kv",   "upper",  "lower"};

typedef struct lf_time {
    char *group;       /* the prefix group holding the time; NULL: records have no time */
    char *format;      /* "epoch", or strftime-like directives (%Y %m %d %H %M %S %f %z %b) */
    bool epoch;
    zone_t tz;         /* for times written without a zone */
} lf_time_t;

typedef struct lf_rule {
    char *name;
    pcre2_code *re;
    pcre2_match_data *md;
    json_t *set;       /* variable -> template; borrowed from the rules document */
    json_t *record;    /* the record template; borrowed; NULL: sets variables only */
    bool cont;         /* "continue": later rules are tried too */
    bool multiline;    /* "multiline": match the continuation lines too */
} lf_rule_t;

/* A "$findall" pattern of a template, compiled once. */
typedef struct lf_regex {
    const json_t *node;  /* the template object it belongs to */
    pcre2_code *re;
    pcre2_match_data *md;
} lf_regex_t;

typedef struct lf_rules {
    char *path;
    json_t *doc;              /* owns every template */
    pcre2_code *prefix;
    pcre2_match_data *pmd;
    lf_time_t time;
    json_t *defaults;         /* borrowed; may be NULL */
    json_t *variables;        /* borrowed initial values; may be NULL */
    json_t *varnames;         /* every variable name a rule sets (object used as a set) */
    lf_rule_t *rules;
    size_t n_rules;
    lf_regex_t *regexes;
    size_t n_regexes;
} lf_rules_t;

/* ---- the cursor --------------------------------------------------------------- */

typedef struct lf_pos {
    bool have;                 /* a file was read before */
    unsigned long long dev, ino;
    long long off;             /* first byte of the first record not yet handled */
    long long line;            /* its line number, from 1 */
    long long mtime_ns;        /* the file's mtime when it was last read */
    unsigned long long head;   /* FNV-1a of its first head_len bytes */
    int head_len;
    json_t *vars;              /* variable -> string, as of `off` (owned) */
} lf_pos_t;

typedef struct lf_state {
    mida_observer_t *obs;
    char *path;
    lf_rules_t rules;
    const char *workflow_id;   /* --workflow-id: the last fallback */
    double quiet;              /* --quiet-period */
    bool wait;
    bool warned_prefix;        /* "no line matches the prefix" said once */
    mida_buf_t text;           /* scratch for evaluated strings */
    size_t since_cursor;       /* records since the cursor was last set */
} lf_state_t;

/* ---- small helpers ------------------------------------------------------------ */

static int s_fail(char *err, size_t errlen, int code, const char *fmt, ...) MIDA_PRINTF(4, 5);
static int s_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

static int s_why(char *why, size_t whylen, const char *fmt, ...) MIDA_PRINTF(3, 4);
static int s_why(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return MIDA_EPARSE;
}

static unsigned long long s_fnv1a(const unsigned char *p, size_t n)
{
    unsigned long long h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static long long s_mtime_ns(const struct stat *sb)
{
    return (long long)sb->st_mtim.tv_sec * 1000000000LL + sb->st_mtim.tv_nsec;
}

/* A JSON string of n bytes that may not be UTF-8: invalid bytes become
 * U+FFFD, so that one bad byte in a log line does not lose the value. */
static json_t *s_json_text(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    mida_buf_t b;
    mida_buf_init(&b, n * 3 + 16);
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n && c != 0;
        for (size_t k = 1; ok && k < len; k++)
            ok = ((unsigned char)s[i + k] >> 6) == 2;
        if (ok && len > 1) {
            /* overlong forms, surrogates and code points past U+10FFFF */
            json_t *probe = json_stringn(s + i, len);
            ok = probe != NULL;
            json_decref(probe);
        }
        if (ok)
            mida_buf_add(&b, s + i, len);
        else
            mida_buf_adds(&b, "\xEF\xBF\xBD");
        i += ok ? len : 1;
    }
    j = json_stringn(mida_buf_str(&b), b.len);
    mida_buf_free(&b);
    return j;
}

/* ---- time ------------------------------------------------------------------------ */


/* Checks a time format: the directives it may use. */
static int s_check_time_format(const char *fmt, char *why, size_t whylen)
{
    for (const char *p = fmt; *p; p++) {
        if (*p != '%')
            continue;
        p++;
        if (!*p || !strchr("YmdHMSfzb%", *p))
            return s_why(why, whylen, "unsupported directive '%%%.1s' (use %%Y %%m %%d %%H %%M %%S %%f %%z %%b %%%%)", p);
    }
    return 0;
}

static int s_digits(const char **p, const char *end, int min, int max, long *v)
{
    long x = 0;
    int n = 0;
    while (*p < end && n < max && isdigit((unsigned char)**p)) {
        x = x * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    if (n < min)
        return -1;
    *v = x;
    return n;
}

/* The time in text `s` (n bytes) read by `tf`, as seconds and microseconds
 * since the epoch; MIDA_EPARSE with the reason in why. */
static int s_parse_time(const lf_time_t *tf, const char *s, size_t n, long long *secs, long *usec,
                        char *why, size_t whylen)
{
    const char *p = s, *end = s + n;
    long v;
    if (tf->epoch) {
        long long x = 0;
        int nd = 0;
        while (p < end && isdigit((unsigned char)*p) && nd < 12) {
            x = x * 10 + (*p++ - '0');
            nd++;
        }
        long us = 0;
        if (nd && p < end && *p == '.') {
            p++;
            int k = 0;
            while (p < end && isdigit((unsigned char)*p)) {
                if (k < 6)
                    us = us * 10 + (*p - '0');
                k++;
                p++;
            }
            for (; k < 6; k++)
                us *= 10;
        }
        if (!nd || p != end)
            return s_why(why, whylen, "'%.*s' is not seconds since the epoch", (int)n, s);
        *secs = x;
        *usec = us;
        return 0;
    }
    struct tm tm = {0};
    tm.tm_mday = 1;
    long us = 0, zoff = 0;
    bool zone = false;
    static const char *const months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                         "jul", "aug", "sep", "oct", "nov", "dec"};
    for (const char *f = tf->format; *f; f++) {
        if (*f != '%') {
            if (p >= end || *p != *f)
                goto bad;
            p++;
            continue;
        }
        f++;
        switch (*f) {
        case 'Y':
            if (s_digits(&p, end, 4, 4, &v) < 0)
                goto bad;
            tm.tm_year = (int)v - 1900;
            break;
        case 'm':
            if (s_digits(&p, end, 1, 2, &v) < 0 || v < 1 || v > 12)
                goto bad;
            tm.tm_mon = (int)v - 1;
            break;
        case 'd':
            if (s_digits(&p, end, 1, 2, &v) < 0 || v < 1 || v > 31)
                goto bad;
            tm.tm_mday = (int)v;
            break;
        case 'H':
            if (s_digits(&p, end, 1, 2, &v) < 0 || v > 23)
                goto bad;
            tm.tm_hour = (int)v;
            break;
        case 'M':
            if (s_digits(&p, end, 1, 2, &v) < 0 || v > 59)
                goto bad;
            tm.tm_min = (int)v;
            break;
        case 'S':
            if (s_digits(&p, end, 1, 2, &v) < 0 || v > 60)
                goto bad;
            tm.tm_sec = (int)v;
            break;
        case 'f': {
            int k = 0;
            us = 0;
            while (p < end && isdigit((unsigned char)*p)) {
                if (k < 6)
                    us = us * 10 + (*p - '0');
                k++;
                p++;
            }
            if (!k)
                goto bad;
            for (; k < 6; k++)
                us *= 10;
            break;
        }
        case 'b': {
            int m = -1;
            for (int i = 0; i < 12 && p + 3 <= end; i++)
                if (!strncasecmp(p, months[i], 3))
                    m = i;
            if (m < 0)
                goto bad;
            tm.tm_mon = m;
            p += 3;
            break;
        }
        case 'z': {
            if (p < end && (*p == 'Z' || *p == 'z')) {
                p++;
                zone = true;
                zoff = 0;
                break;
            }
            char z[8] = "";
            size_t k = 0;
            while (p < end && k < 6 && (isdigit((unsigned char)*p) || *p == ':' || (!k && (*p == '+' || *p == '-'))))
                z[k++] = *p++;
            zone_t zz;
            if (!strchr("+-", z[0]) || zone_parse(z, &zz))
                goto bad;
            zoff = zz.offset;
            zone = true;
            break;
        }
        case '%':
            if (p >= end || *p != '%')
                goto bad;
            p++;
            break;
        default:
            goto bad;
        }
    }
    if (p != end)
        goto bad;
    /* without a zone in the text: the configured one; "local" is the
     * observer's own ($TZ), right for a log written on this host */
    time_t t;
    zone_t own = {false, zoff};
    if (!zone_epoch(zone ? &own : &tf->tz, &tm, &t))
        goto bad;
    *secs = (long long)t;
    *usec = us;
    return 0;
bad:
    return s_why(why, whylen, "'%.*s' does not match the time format \"%s\"", (int)n, s, tf->format);
}


/* ---- regular expressions ------------------------------------------------------------ */

static pcre2_code *s_compile(const char *pattern, uint32_t flags, char *why, size_t whylen)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   flags | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        s_why(why, whylen, "regex error at offset %zu: %s", (size_t)off, (const char *)msg);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);   /* slower without, not wrong */
    return re;
}

/* Whether `re` has a group called `name`. */
static bool s_has_group(const pcre2_code *re, const char *name)
{
    return re && pcre2_substring_number_from_name(re, (PCRE2_SPTR)name) > 0;
}

/* The text of group `name` of the last match (rc = its return code). */
static bool s_group(const pcre2_code *re, pcre2_match_data *md, int rc, const char *subject,
                    const char *name, const char **p, size_t *n)
{
    if (!re || rc <= 0)
        return false;
    int g = pcre2_substring_number_from_name(re, (PCRE2_SPTR)name);
    if (g <= 0 || g >= rc)
        return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    if (ov[2 * g] == PCRE2_UNSET)
        return false;
    *p = subject + ov[2 * g];
    *n = ov[2 * g + 1] - ov[2 * g];
    return true;
}

/* ---- templates ------------------------------------------------------------------------ */

static const char *const s_builtins[] = {"time", "message", "continuation", "text", "line", "file"};

static const char *const s_record_fields[] = {
    "task_id", "workflow_id", "workflow_name", "campaign_id", "activity_id", "parent_task_id",
    "status", "native_status", "submitted_at", "started_at", "ended_at", "used", "generated",
    "dependencies", "hostname", "user", "adapter_id", "environment_id", "engine",
    "engine_version", "telemetry_at_start", "telemetry_at_end", "stdout", "stderr", "exit_code",
    "tags", "custom_metadata", "type"};

static lf_conv_t s_conv(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof s_conv_names / sizeof *s_conv_names; i++)
        if (strlen(s_conv_names[i]) == n && !strncmp(s_conv_names[i], name, n))
            return (lf_conv_t)i;
    return CONV_NONE;
}

/* One piece of a template string: literal text, or a placeholder
 * {name} / {name:conv}.  "{{" and "}}" are literal braces. */
typedef struct lf_piece {
    bool placeholder;
    const char *text;      /* literal: the text; placeholder: the name */
    size_t len;
    lf_conv_t conv;
} lf_piece_t;

/* The next piece of template `*s`; 0 at the end, 1 with a piece, or
 * MIDA_EPARSE with the reason. */
static int s_next_piece(const char **s, lf_piece_t *pc, char *why, size_t whylen)
{
    const char *p = *s;
    if (!*p)
        return 0;
    memset(pc, 0, sizeof *pc);
    if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
        pc->text = p;
        pc->len = 1;
        *s = p + 2;
        return 1;
    }
    if (*p == '}')
        return s_why(why, whylen, "a lone '}' (write '}}' for a brace)");
    if (*p != '{') {
        const char *q = p;
        while (*q && *q != '{' && *q != '}')
            q++;
        pc->text = p;
        pc->len = (size_t)(q - p);
        *s = q;
        return 1;
    }
    const char *name = ++p;
    while (isalnum((unsigned char)*p) || *p == '_')
        p++;
    size_t nlen = (size_t)(p - name);
    lf_conv_t conv = CONV_STR;
    if (*p == ':') {
        const char *c = ++p;
        while (isalpha((unsigned char)*p))
            p++;
        conv = s_conv(c, (size_t)(p - c));
        if (conv == CONV_NONE)
            return s_why(why, whylen, "unknown conversion ':%.*s' (str, int, float, number, bool, "
                         "json, list, kv, upper, lower)", (int)(p - c), c);
    }
    if (*p != '}' || !nlen)
        return s_why(why, whylen, "'{' must start a placeholder {name} or {name:conversion} "
                     "(write '{{' for a brace)");
    pc->placeholder = true;
    pc->text = name;
    pc->len = nlen;
    pc->conv = conv;
    *s = p + 1;
    return 1;
}

/* The one placeholder a template consists of, or false. */
static bool s_single(const char *s, lf_piece_t *pc)
{
    char why[8];
    const char *p = s;
    if (s_next_piece(&p, pc, why, sizeof why) != 1 || !pc->placeholder)
        return false;
    return *p == '\0';
}

typedef struct lf_check {
    const lf_rules_t *rules;
    const pcre2_code *rule_re;   /* NULL for defaults */
} lf_check_t;

static bool s_known_name(const lf_check_t *ck, const char *name)
{
    for (size_t i = 0; i < sizeof s_builtins / sizeof *s_builtins; i++)
        if (!strcmp(name, s_builtins[i]))
            return true;
    return s_has_group(ck->rules->prefix, name) || s_has_group(ck->rule_re, name) ||
           json_object_get(ck->rules->varnames, name) != NULL;
}

static int s_check_string(const lf_check_t *ck, const char *s, bool text_only, char *why,
                          size_t whylen)
{
    lf_piece_t pc;
    bool single = s_single(s, &pc);
    const char *p = s;
    int rc;
    while ((rc = s_next_piece(&p, &pc, why, whylen)) == 1) {
        if (!pc.placeholder)
            continue;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)pc.len, pc.text);
        if (!s_known_name(ck, name))
            return s_why(why, whylen, "unknown name {%s}: not a group of the match or of the "
                         "prefix, not a variable a rule sets, not one of time, message, "
                         "continuation, text, line, file", name);
        if ((!single || text_only) && pc.conv != CONV_STR && pc.conv != CONV_UPPER &&
            pc.conv != CONV_LOWER)
            return s_why(why, whylen, "{%s:%s} gives a typed value, so it must be the whole "
                         "template (within text, or as a key or a variable, only str, upper and "
                         "lower)", name, s_conv_names[pc.conv]);
    }
    return rc;
}

static int s_add_regex(lf_rules_t *r, const json_t *node, const char *pattern, char *why,
                       size_t whylen)
{
    pcre2_code *re = s_compile(pattern, 0, why, whylen);
    if (!re)
        return MIDA_EPARSE;
    lf_regex_t *n = realloc(r->regexes, (r->n_regexes + 1) * sizeof *n);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    if (!n || !md) {
        if (n)
            r->regexes = n;
        pcre2_match_data_free(md);
        pcre2_code_free(re);
        return s_why(why, whylen, "out of memory");
    }
    r->regexes = n;
    r->regexes[r->n_regexes++] = (lf_regex_t){node, re, md};
    return 0;
}

/* Checks template `t` (any JSON) at `where`; compiles its $findall
 * patterns. */
static int s_check_template(lf_check_t *ck, lf_rules_t *r, json_t *t, mida_buf_t *where,
                            char *why, size_t whylen)
{
    size_t mark = where->len;
    int rc = 0;
    if (json_is_string(t))
        return s_check_string(ck, json_string_value(t), false, why, whylen);
    if (json_is_array(t)) {
        size_t i;
        json_t *v;
        json_array_foreach(t, i, v) {
            mida_buf_printf(where, "[%zu]", i);
            if ((rc = s_check_template(ck, r, v, where, why, whylen)))
                return rc;
            where->len = mark;
            where->data[mark] = '\0';
        }
        return 0;
    }
    if (!json_is_object(t))
        return 0;
    json_t *map = json_object_get(t, "$map"), *find = json_object_get(t, "$findall");
    if (map || find) {
        const char *key;
        json_t *v;
        json_object_foreach(t, key, v) {
            bool ok = !strcmp(key, "$in") || (map && (!strcmp(key, "$map") || !strcmp(key, "$default"))) ||
                      (find && (!strcmp(key, "$findall") || !strcmp(key, "$type")));
            if (!ok || (map && find))
                return s_why(why, whylen, "unexpected key \"%s\" (a $map object has $map, $in, "
                             "$default; a $findall object has $findall, $in, $type)", key);
        }
        json_t *in = json_object_get(t, "$in");
        if (!json_is_string(in))
            return s_why(why, whylen, "\"$in\" must be a template string");
        if ((rc = s_check_string(ck, json_string_value(in), true, why, whylen)))
            return rc;
        if (map) {
            if (!json_is_object(map))
                return s_why(why, whylen, "\"$map\" must be an object (text -> value)");
            json_object_foreach(map, key, v) {
                mida_buf_printf(where, ".$map.%s", key);
                if ((rc = s_check_template(ck, r, v, where, why, whylen)))
                    return rc;
                where->len = mark;
                where->data[mark] = '\0';
            }
            json_t *def = json_object_get(t, "$default");
            return def ? s_check_template(ck, r, def, where, why, whylen) : 0;
        }
        if (!json_is_string(find))
            return s_why(why, whylen, "\"$findall\" must be a regular expression");
        json_t *type = json_object_get(t, "$type");
        if (type) {
            const char *ts = json_string_value(type);
            lf_conv_t c = ts ? s_conv(ts, strlen(ts)) : CONV_NONE;
            if (c != CONV_STR && c != CONV_INT && c != CONV_FLOAT && c != CONV_NUMBER)
                return s_why(why, whylen, "\"$type\" must be str, int, float or number");
        }
        mida_buf_adds(where, ".$findall");
        return s_add_regex(r, t, json_string_value(find), why, whylen);
    }
    const char *key;
    json_t *v;
    json_object_foreach(t, key, v) {
        mida_buf_printf(where, ".%s", key);
        if ((rc = s_check_string(ck, key, true, why, whylen)) ||
            (rc = s_check_template(ck, r, v, where, why, whylen)))
            return rc;
        where->len = mark;
        where->data[mark] = '\0';
    }
    return 0;
}

/* ---- loading the rules ------------------------------------------------------------------- */

static void s_rules_free(lf_rules_t *r)
{
    for (size_t i = 0; i < r->n_rules; i++) {
        free(r->rules[i].name);
        pcre2_match_data_free(r->rules[i].md);
        pcre2_code_free(r->rules[i].re);
    }
    free(r->rules);
    for (size_t i = 0; i < r->n_regexes; i++) {
        pcre2_match_data_free(r->regexes[i].md);
        pcre2_code_free(r->regexes[i].re);
    }
    free(r->regexes);
    pcre2_match_data_free(r->pmd);
    pcre2_code_free(r->prefix);
    free(r->time.group);
    free(r->time.format);
    json_decref(r->varnames);
    json_decref(r->doc);
    free(r->path);
    memset(r, 0, sizeof *r);
}

static int s_only_keys(json_t *obj, const char *const *keys, size_t n, const char **bad)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        size_t i = 0;
        while (i < n && strcmp(key, keys[i]))
            i++;
        if (i == n) {
            *bad = key;
            return -1;
        }
    }
    return 0;
}

static bool s_identifier(const char *s)
{
    if (!*s || isdigit((unsigned char)*s))
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

#define LF_KEYS(...) (const char *const[]){__VA_ARGS__}, \
    sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)

/* Reads and checks the rules file; every error names the file, the place
 * in it and the reason. */
static int s_rules_load(lf_rules_t *r, const char *path, const char *tz_option, char *err,
                        size_t errlen)
{
    char why[512] = "";
    const char *bad = NULL;
    mida_buf_t where;
    mida_buf_init(&where, 4096);
    int rc = MIDA_EPARSE;
    memset(r, 0, sizeof *r);
    r->path = strdup(path);
    r->varnames = json_object();
    if (!r->path || !r->varnames) {
        rc = s_fail(err, errlen, MIDA_ENOMEM, "out of memory");
        goto out;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) {
        rc = s_fail(err, errlen, MIDA_ENOTFOUND, "cannot read the rules %s: %s", path, strerror(errno));
        goto out;
    }
    if (sb.st_size > (off_t)LF_MAX_RULES_FILE) {
        rc = s_fail(err, errlen, MIDA_ETOOBIG, "rules %s: larger than %u bytes", path, LF_MAX_RULES_FILE);
        goto out;
    }
    json_error_t jerr;
    r->doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!r->doc) {
        if (jerr.line > 0)
            s_fail(err, errlen, MIDA_EPARSE, "rules %s:%d:%d: not JSON: %s", path, jerr.line,
                   jerr.column, jerr.text);
        else
            s_fail(err, errlen, MIDA_EPARSE, "cannot read the rules %s: %s", path, jerr.text);
        goto out;
    }
    if (!json_is_object(r->doc)) {
        s_fail(err, errlen, rc, "rules %s: not a JSON object", path);
        goto out;
    }
    if (s_only_keys(r->doc, LF_KEYS("description", "format", "record", "defaults", "variables",
                                    "rules"), &bad)) {
        s_fail(err, errlen, rc, "rules %s: unknown key \"%s\" (description, format, record, "
               "defaults, variables, rules)", path, bad);
        goto out;
    }

    /* record: the prefix of a log record and its time */
    json_t *rec = json_object_get(r->doc, "record");
    json_t *prefix = json_object_get(rec, "prefix");
    if (!json_is_object(rec) || !json_is_string(prefix)) {
        s_fail(err, errlen, rc, "rules %s: \"record\": {\"prefix\": \"<regex matching the start "
               "of a log record>\", \"time\": {...}} is required", path);
        goto out;
    }
    if (s_only_keys(rec, LF_KEYS("prefix", "time"), &bad)) {
        s_fail(err, errlen, rc, "rules %s: record: unknown key \"%s\" (prefix, time)", path, bad);
        goto out;
    }
    r->prefix = s_compile(json_string_value(prefix), PCRE2_ANCHORED, why, sizeof why);
    if (!r->prefix) {
        s_fail(err, errlen, rc, "rules %s: record.prefix: %s", path, why);
        goto out;
    }
    r->pmd = pcre2_match_data_create_from_pattern(r->prefix, NULL);
    json_t *time = json_object_get(rec, "time");
    if (time) {
        const char *group = json_string_value(json_object_get(time, "group"));
        const char *format = json_string_value(json_object_get(time, "format"));
        const char *tz = json_string_value(json_object_get(time, "tz"));
        if (!json_is_object(time) || !group || !format ||
            s_only_keys(time, LF_KEYS("group", "format", "tz"), &bad)) {
            s_fail(err, errlen, rc, "rules %s: record.time: wants {\"group\": NAME, \"format\": "
                   "\"epoch\" or \"%%Y-%%m-%%d %%H:%%M:%%S,%%f\", \"tz\": \"local|UTC|+HH:MM\"}", path);
            goto out;
        }
        if (!s_has_group(r->prefix, group)) {
            s_fail(err, errlen, rc, "rules %s: record.time.group: the prefix has no group "
                   "(?<%s>...)", path, group);
            goto out;
        }
        r->time.group = strdup(group);
        r->time.format = strdup(format);
        r->time.epoch = !strcmp(format, "epoch");
        if (!r->time.epoch && s_check_time_format(format, why, sizeof why)) {
            s_fail(err, errlen, rc, "rules %s: record.time.format: %s", path, why);
            goto out;
        }
        const char *zone = tz_option ? tz_option : tz ? tz : "local";
        if (zone_parse(zone, &r->time.tz)) {
            s_fail(err, errlen, MIDA_EINVAL, "%s '%s': not a zone (local, UTC or +HH:MM)",
                   tz_option ? "--tz" : "record.time.tz in the rules", zone);
            goto out;
        }
    }

    /* variables: what rules set, and their first values */
    r->variables = json_object_get(r->doc, "variables");
    if (r->variables) {
        const char *key;
        json_t *v;
        if (!json_is_object(r->variables)) {
            s_fail(err, errlen, rc, "rules %s: \"variables\" must be an object (name -> text)", path);
            goto out;
        }
        json_object_foreach(r->variables, key, v) {
            if (!s_identifier(key) || !json_is_string(v)) {
                s_fail(err, errlen, rc, "rules %s: variables.%s: a name of letters, digits and _ "
                       "with a text value", path, key);
                goto out;
            }
            json_object_set_new(r->varnames, key, json_true());
        }
    }
    json_object_set_new(r->varnames, "workflow_id", json_true());
    json_t *rules = json_object_get(r->doc, "rules");
    if (!json_is_array(rules) || !json_array_size(rules)) {
        s_fail(err, errlen, rc, "rules %s: \"rules\" must be a non-empty array", path);
        goto out;
    }
    r->rules = calloc(json_array_size(rules), sizeof *r->rules);
    if (!r->rules) {
        rc = s_fail(err, errlen, MIDA_ENOMEM, "out of memory");
        goto out;
    }
    size_t i;
    json_t *ru;
    json_array_foreach(rules, i, ru) {
        json_t *set = json_object_get(ru, "set");
        const char *key;
        json_t *v;
        if (json_is_object(set))
            json_object_foreach(set, key, v)
                if (s_identifier(key))
                    json_object_set_new(r->varnames, key, json_true());
    }

    json_array_foreach(rules, i, ru) {
        lf_rule_t *rule = &r->rules[r->n_rules];
        const char *name = json_string_value(json_object_get(ru, "name"));
        char label[160];
        snprintf(label, sizeof label, "rules[%zu]%s%.100s%s", i, name ? " \"" : "", name ? name : "",
                 name ? "\"" : "");
        if (!json_is_object(ru)) {
            s_fail(err, errlen, rc, "rules %s: %s: not an object", path, label);
            goto out;
        }
        if (s_only_keys(ru, LF_KEYS("name", "match", "multiline", "set", "record", "continue"), &bad)) {
            s_fail(err, errlen, rc, "rules %s: %s: unknown key \"%s\" (name, match, multiline, set, "
                   "record, continue)", path, label, bad);
            goto out;
        }
        const char *match = json_string_value(json_object_get(ru, "match"));
        if (!match) {
            s_fail(err, errlen, rc, "rules %s: %s: \"match\" (a regular expression) is required",
                   path, label);
            goto out;
        }
        rule->name = strdup(name ? name : label);
        rule->re = s_compile(match, 0, why, sizeof why);
        r->n_rules++;
        if (!rule->re) {
            s_fail(err, errlen, rc, "rules %s: %s: match: %s", path, label, why);
            goto out;
        }
        rule->md = pcre2_match_data_create_from_pattern(rule->re, NULL);
        rule->set = json_object_get(ru, "set");
        rule->record = json_object_get(ru, "record");
        json_t *cont = json_object_get(ru, "continue");
        if (cont && !json_is_boolean(cont)) {
            s_fail(err, errlen, rc, "rules %s: %s: \"continue\" must be true or false", path, label);
            goto out;
        }
        rule->cont = json_is_true(cont);
        json_t *ml = json_object_get(ru, "multiline");
        if (ml && !json_is_boolean(ml)) {
            s_fail(err, errlen, rc, "rules %s: %s: \"multiline\" must be true or false", path, label);
            goto out;
        }
        rule->multiline = json_is_true(ml);
        if (!rule->set && !rule->record) {
            s_fail(err, errlen, rc, "rules %s: %s: a rule needs \"record\" or \"set\"", path, label);
            goto out;
        }
        lf_check_t ck = {r, rule->re};
        if (rule->set) {
            if (!json_is_object(rule->set)) {
                s_fail(err, errlen, rc, "rules %s: %s: \"set\" must be an object (variable -> "
                       "template)", path, label);
                goto out;
            }
            const char *key;
            json_t *v;
            json_object_foreach(rule->set, key, v) {
                if (!s_identifier(key) || !json_is_string(v)) {
                    s_fail(err, errlen, rc, "rules %s: %s: set.%s: a variable name (letters, "
                           "digits, _) with a template string", path, label, key);
                    goto out;
                }
                if (s_check_string(&ck, json_string_value(v), true, why, sizeof why)) {
                    s_fail(err, errlen, rc, "rules %s: %s: set.%s: %s", path, label, key, why);
                    goto out;
                }
            }
        }
        if (rule->record) {
            if (!json_is_object(rule->record)) {
                s_fail(err, errlen, rc, "rules %s: %s: \"record\" must be an object (field -> "
                       "template)", path, label);
                goto out;
            }
            const char *key;
            json_t *v;
            json_object_foreach(rule->record, key, v) {
                size_t k = 0;
                while (k < sizeof s_record_fields / sizeof *s_record_fields &&
                       strcmp(key, s_record_fields[k]))
                    k++;
                if (k == sizeof s_record_fields / sizeof *s_record_fields) {
                    s_fail(err, errlen, rc, "rules %s: %s: record.%s: not a field of a task "
                           "record (docs/records.md)", path, label, key);
                    goto out;
                }
            }
            mida_buf_reset(&where);
            mida_buf_adds(&where, "record");
            if (s_check_template(&ck, r, rule->record, &where, why, sizeof why)) {
                s_fail(err, errlen, rc, "rules %s: %s: %s: %s", path, label, mida_buf_str(&where), why);
                goto out;
            }
        }
    }
    r->defaults = json_object_get(r->doc, "defaults");
    if (r->defaults) {
        lf_check_t ck = {r, NULL};
        mida_buf_reset(&where);
        mida_buf_adds(&where, "defaults");
        const char *key;
        json_t *v;
        if (!json_is_object(r->defaults)) {
            s_fail(err, errlen, rc, "rules %s: \"defaults\" must be an object (field -> template)", path);
            goto out;
        }
        json_object_foreach(r->defaults, key, v) {
            size_t k = 0;
            while (k < sizeof s_record_fields / sizeof *s_record_fields && strcmp(key, s_record_fields[k]))
                k++;
            if (k == sizeof s_record_fields / sizeof *s_record_fields) {
                s_fail(err, errlen, rc, "rules %s: defaults.%s: not a field of a task record "
                       "(docs/records.md)", path, key);
                goto out;
            }
        }
        if (s_check_template(&ck, r, r->defaults, &where, why, sizeof why)) {
            s_fail(err, errlen, rc, "rules %s: %s: %s (defaults see the prefix's groups, the "
                   "variables and the built-in names only)", path, mida_buf_str(&where), why);
            goto out;
        }
    }
    if (!r->pmd) {
        rc = s_fail(err, errlen, MIDA_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < r->n_rules; k++)
        if (!r->rules[k].md || !r->rules[k].name) {
            rc = s_fail(err, errlen, MIDA_ENOMEM, "out of memory");
            goto out;
        }
    rc = 0;
out:
    mida_buf_free(&where);
    return rc;
}

/* ---- evaluating templates ------------------------------------------------------------ */

/* What a template sees: the match of the rule, the prefix groups of the
 * record's first line, the built-in names, the variables. */
typedef struct lf_eval {
    lf_state_t *st;
    const char *line;          /* the record's first line */
    int prc;                   /* its prefix match */
    const pcre2_code *rre;     /* the rule (NULL for defaults) */
    pcre2_match_data *rmd;
    int rrc;
    const char *subject;       /* what the rule matched: message + continuation */
    size_t subject_len;
    size_t msg_len;            /* the message is subject[0 .. msg_len) */
    const char *time_iso;      /* NULL when the record has no time */
    char lineno[24];
    const char *file;
    json_t *newvars;           /* set by this rule (seen first) */
    json_t *vars;
    char why[512];             /* why an evaluation failed */
} lf_eval_t;

static bool s_lookup(lf_eval_t *ev, const char *name, const char **p, size_t *n)
{
    const lf_rules_t *r = &ev->st->rules;
    if (s_group(ev->rre, ev->rmd, ev->rrc, ev->subject, name, p, n) ||
        s_group(r->prefix, r->pmd, ev->prc, ev->line, name, p, n))
        return true;
    if (!strcmp(name, "time")) {
        *p = ev->time_iso;
        *n = *p ? strlen(*p) : 0;
        return *p != NULL;
    }
    if (!strcmp(name, "message") || !strcmp(name, "text")) {
        *p = ev->subject;
        *n = name[0] == 'm' ? ev->msg_len : ev->subject_len;
        return true;
    }
    if (!strcmp(name, "continuation")) {
        if (ev->subject_len <= ev->msg_len)
            return false;
        *p = ev->subject + ev->msg_len + 1;
        *n = ev->subject_len - ev->msg_len - 1;
        return true;
    }
    if (!strcmp(name, "line") || !strcmp(name, "file")) {
        *p = name[0] == 'l' ? ev->lineno : ev->file;
        *n = strlen(*p);
        return true;
    }
    const char *v = json_string_value(json_object_get(ev->newvars, name));
    if (!v)
        v = json_string_value(json_object_get(ev->vars, name));
    if (!v && !strcmp(name, "workflow_id"))
        v = ev->st->workflow_id;
    if (!v)
        return false;
    *p = v;
    *n = strlen(v);
    return true;
}

static bool s_is_int(const char *s, size_t n, long long *out)
{
    char buf[32];
    if (!n || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    const char *q = buf + (buf[0] == '+' || buf[0] == '-');
    if (!*q)
        return false;
    for (; *q; q++)
        if (!isdigit((unsigned char)*q))
            return false;
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool s_is_float(const char *s, size_t n, double *out)
{
    char buf[64];
    if (!n || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    bool digit = false;
    for (const char *q = buf; *q; q++) {
        if (isdigit((unsigned char)*q))
            digit = true;
        else if (!strchr("+-.eE", *q))
            return false;   /* no inf, nan, hex */
    }
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (!digit || *end || errno == ERANGE || !isfinite(v))
        return false;
    *out = v;
    return true;
}

/* An integer, else a finite number, else NULL. */
static json_t *s_number(const char *s, size_t n)
{
    long long i;
    double d;
    if (s_is_int(s, n, &i))
        return json_integer(i);
    if (s_is_float(s, n, &d))
        return json_real(d);
    return NULL;
}

static void s_trim(const char **s, size_t *n)
{
    while (*n && isspace((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && isspace((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

/* "a=1 b=x, c='two words'" -> {"a": 1, "b": "x", "c": "two words"}. */
static json_t *s_kv(lf_eval_t *ev, const char *s, size_t n)
{
    json_t *obj = json_object();
    const char *p = s, *end = s + n;
    while (obj) {
        while (p < end && (isspace((unsigned char)*p) || *p == ',' || *p == ';'))
            p++;
        if (p >= end)
            break;
        const char *k = p;
        while (p < end && *p != '=' && !isspace((unsigned char)*p) && *p != ',' && *p != ';')
            p++;
        if (p >= end || *p != '=' || p == k) {
            s_why(ev->why, sizeof ev->why, "'%.*s' is not key=value", (int)(p - k ? p - k : 1), k);
            json_decref(obj);
            return NULL;
        }
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(p - k), k);
        p++;
        json_t *v;
        if (p < end && (*p == '"' || *p == '\'')) {
            char q = *p++;
            const char *vs = p;
            while (p < end && *p != q)
                p++;
            v = s_json_text(vs, (size_t)(p - vs));
            if (p < end)
                p++;
        } else {
            const char *vs = p;
            while (p < end && !isspace((unsigned char)*p) && *p != ',' && *p != ';')
                p++;
            size_t vn = (size_t)(p - vs);
            v = s_number(vs, vn);
            if (v)
                ;
            else if (vn == 4 && !strncasecmp(vs, "true", 4))
                v = json_true();
            else if (vn == 5 && !strncasecmp(vs, "false", 5))
                v = json_false();
            else if ((vn == 4 && !strncasecmp(vs, "none", 4)) || (vn == 4 && !strncmp(vs, "null", 4)))
                v = json_null();
            else
                v = s_json_text(vs, vn);
        }
        json_t *key_j = s_json_text(key, strlen(key));
        if (!v || !key_j || json_object_set_new(obj, json_string_value(key_j), v)) {
            json_decref(key_j);
            json_decref(obj);
            return NULL;
        }
        json_decref(key_j);
    }
    return obj;
}

/* Converts text by `conv`; NULL with ev->why when it cannot be. */
static json_t *s_convert(lf_eval_t *ev, const char *name, const char *s, size_t n, lf_conv_t conv)
{
    json_t *v = NULL;
    const char *t = s;
    size_t tn = n;
    s_trim(&t, &tn);
    switch (conv) {
    case CONV_STR:
        return s_json_text(s, n);
    case CONV_UPPER:
    case CONV_LOWER: {
        char *c = malloc(n + 1);
        if (!c)
            return NULL;
        for (size_t i = 0; i < n; i++)
            c[i] = (char)(conv == CONV_UPPER ? toupper((unsigned char)s[i]) : tolower((unsigned char)s[i]));
        v = s_json_text(c, n);
        free(c);
        return v;
    }
    case CONV_INT: {
        long long i;
        if (s_is_int(t, tn, &i))
            return json_integer(i);
        break;
    }
    case CONV_FLOAT: {
        double d;
        if (s_is_float(t, tn, &d))
            return json_real(d);
        break;
    }
    case CONV_NUMBER:
        if ((v = s_number(t, tn)))
            return v;
        break;
    case CONV_BOOL: {
        static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no", "off", "0"};
        for (size_t i = 0; i < 4; i++) {
            if (strlen(yes[i]) == tn && !strncasecmp(t, yes[i], tn))
                return json_true();
            if (strlen(no[i]) == tn && !strncasecmp(t, no[i], tn))
                return json_false();
        }
        break;
    }
    case CONV_JSON: {
        json_error_t jerr;
        if ((v = json_loadb(t, tn, JSON_DECODE_ANY, &jerr)))
            return v;
        s_why(ev->why, sizeof ev->why, "{%s:json}: '%.*s%s' is not JSON: %s", name,
              (int)(tn > 80 ? 80 : tn), t, tn > 80 ? "..." : "", jerr.text);
        return NULL;
    }
    case CONV_LIST: {
        v = json_array();
        const char *p = s, *end = s + n;
        while (v && p < end) {
            const char *q = memchr(p, ',', (size_t)(end - p));
            if (!q)
                q = end;
            const char *it = p;
            size_t in = (size_t)(q - p);
            s_trim(&it, &in);
            if (in)
                json_array_append_new(v, s_json_text(it, in));
            p = q + 1;
        }
        return v;
    }
    case CONV_KV:
        if ((v = s_kv(ev, s, n)))
            return v;
        if (!ev->why[0])
            s_why(ev->why, sizeof ev->why, "out of memory");
        else {
            char tmp[sizeof ev->why];
            memcpy(tmp, ev->why, sizeof tmp);
            snprintf(ev->why, sizeof ev->why, "{%.60s:kv}: %.400s", name, tmp);
        }
        return NULL;
    case CONV_NONE:
        break;
    }
    s_why(ev->why, sizeof ev->why, "{%s:%s}: '%.*s' is not %s", name, s_conv_names[conv],
          (int)(n > 80 ? 80 : n), s,
          conv == CONV_INT ? "an integer" : conv == CONV_BOOL ? "true or false" : "a number");
    return NULL;
}

/* Evaluates template string s: 0 with *out (NULL when a placeholder's
 * value is absent), MIDA_EPARSE with ev->why. */
static int s_eval_string(lf_eval_t *ev, const char *s, bool text_only, json_t **out)
{
    *out = NULL;
    lf_piece_t pc;
    char name[128];
    const char *p;
    size_t n;
    if (!text_only && s_single(s, &pc)) {
        snprintf(name, sizeof name, "%.*s", (int)pc.len, pc.text);
        if (!s_lookup(ev, name, &p, &n))
            return 0;
        *out = s_convert(ev, name, p, n, pc.conv);
        if (!*out && !ev->why[0])
            s_why(ev->why, sizeof ev->why, "out of memory");
        return *out ? 0 : MIDA_EPARSE;
    }
    mida_buf_t *b = &ev->st->text;
    mida_buf_reset(b);
    const char *q = s;
    int rc;
    while ((rc = s_next_piece(&q, &pc, ev->why, sizeof ev->why)) == 1) {
        if (!pc.placeholder) {
            rc = mida_buf_add(b, pc.text, pc.len);
        } else {
            snprintf(name, sizeof name, "%.*s", (int)pc.len, pc.text);
            if (!s_lookup(ev, name, &p, &n))
                return 0;
            size_t at = b->len;
            rc = mida_buf_add(b, p, n);
            for (size_t i = at; !rc && i < b->len && pc.conv != CONV_STR; i++)
                b->data[i] = (char)(pc.conv == CONV_UPPER ? toupper((unsigned char)b->data[i])
                                                         : tolower((unsigned char)b->data[i]));
        }
        if (rc)
            return s_why(ev->why, sizeof ev->why, "a value longer than %u bytes", LF_MAX_TEXT);
    }
    if (rc < 0)
        return rc;
    *out = s_json_text(mida_buf_str(b), b->len);
    return *out ? 0 : s_why(ev->why, sizeof ev->why, "out of memory");
}

static int s_eval(lf_eval_t *ev, json_t *t, json_t **out);

/* The text of template `in` (absent: NULL); the caller frees it. */
static int s_eval_text(lf_eval_t *ev, const json_t *in, char **text)
{
    json_t *v = NULL;
    *text = NULL;
    int rc = s_eval_string(ev, json_string_value(in), true, &v);
    if (!rc && v && !(*text = strdup(json_string_value(v))))
        rc = s_why(ev->why, sizeof ev->why, "out of memory");
    json_decref(v);
    return rc;
}

static int s_eval_map(lf_eval_t *ev, json_t *t, json_t **out)
{
    char *key;
    int rc = s_eval_text(ev, json_object_get(t, "$in"), &key);
    if (rc || !key)
        return rc;
    json_t *v = json_object_get(json_object_get(t, "$map"), key);
    free(key);
    if (!v)
        v = json_object_get(t, "$default");
    return v ? s_eval(ev, v, out) : 0;
}

static int s_eval_findall(lf_eval_t *ev, json_t *t, json_t **out)
{
    const lf_regex_t *rx = NULL;
    for (size_t i = 0; i < ev->st->rules.n_regexes && !rx; i++)
        if (ev->st->rules.regexes[i].node == t)
            rx = &ev->st->rules.regexes[i];
    if (!rx)
        return s_why(ev->why, sizeof ev->why, "internal: $findall not compiled");
    const char *type = json_string_value(json_object_get(t, "$type"));
    lf_conv_t conv = type ? s_conv(type, strlen(type)) : CONV_STR;
    char *text;
    int rc = s_eval_text(ev, json_object_get(t, "$in"), &text);
    if (rc || !text)
        return rc;
    json_t *arr = json_array();
    size_t len = strlen(text), at = 0;
    while (arr && at <= len) {
        int mrc = pcre2_match(rx->re, (PCRE2_SPTR)text, len, at, 0, rx->md, NULL);
        if (mrc <= 0)
            break;
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(rx->md);
        int g = mrc > 1 ? 1 : 0;
        if (ov[2 * g] != PCRE2_UNSET) {
            json_t *v = s_convert(ev, "$findall", text + ov[2 * g], ov[2 * g + 1] - ov[2 * g], conv);
            if (!v) {
                rc = MIDA_EPARSE;
                break;
            }
            json_array_append_new(arr, v);
        }
        at = ov[1] > ov[0] ? ov[1] : ov[1] + 1;
    }
    free(text);
    if (rc || !arr) {
        json_decref(arr);
        return rc ? rc : s_why(ev->why, sizeof ev->why, "out of memory");
    }
    *out = arr;
    return 0;
}

static int s_eval(lf_eval_t *ev, json_t *t, json_t **out)
{
    *out = NULL;
    int rc = 0;
    if (json_is_string(t))
        return s_eval_string(ev, json_string_value(t), false, out);
    if (json_is_array(t)) {
        json_t *arr = json_array();
        size_t i;
        json_t *it;
        json_array_foreach(t, i, it) {
            json_t *v;
            if ((rc = s_eval(ev, it, &v))) {
                json_decref(arr);
                return rc;
            }
            if (v)
                json_array_append_new(arr, v);
        }
        if (json_array_size(t) && !json_array_size(arr)) {
            json_decref(arr);
            arr = NULL;
        }
        *out = arr;
        return 0;
    }
    if (json_is_object(t)) {
        if (json_object_get(t, "$map"))
            return s_eval_map(ev, t, out);
        if (json_object_get(t, "$findall"))
            return s_eval_findall(ev, t, out);
        json_t *obj = json_object();
        const char *key;
        json_t *it;
        json_object_foreach(t, key, it) {
            json_t *k, *v;
            if ((rc = s_eval_string(ev, key, true, &k)))
                break;
            if (!k)
                continue;
            if ((rc = s_eval(ev, it, &v))) {
                json_decref(k);
                break;
            }
            if (v)
                json_object_set_new(obj, json_string_value(k), v);
            json_decref(k);
        }
        if (rc || (json_object_size(t) && !json_object_size(obj))) {
            json_decref(obj);
            obj = NULL;
        }
        *out = obj;
        return rc;
    }
    *out = json_deep_copy(t);
    return 0;
}

/* ---- log records ------------------------------------------------------------------------ */

typedef struct lf_rec {
    bool active;
    long long off, line;      /* where its first line starts */
    mida_buf_t first;         /* the first line */
    mida_buf_t cont;          /* the lines after it, '\n'-separated (the last LF_MAX_CONT bytes) */
    size_t dropped;           /* continuation lines dropped from the front */
} lf_rec_t;

static void s_cont_add(lf_rec_t *rec, const char *p, size_t n)
{
    if (n > LF_MAX_CONT / 2)
        n = LF_MAX_CONT / 2;
    size_t need = (rec->cont.len ? 1 : 0) + n;
    while (rec->cont.len && rec->cont.len + need > LF_MAX_CONT) {
        /* a traceback's end (the exception) matters most: drop its start */
        char *nl = memchr(rec->cont.data, '\n', rec->cont.len);
        size_t cut = nl ? (size_t)(nl - rec->cont.data) + 1 : rec->cont.len;
        memmove(rec->cont.data, rec->cont.data + cut, rec->cont.len - cut);
        rec->cont.len -= cut;
        rec->cont.data[rec->cont.len] = '\0';
        rec->dropped++;
        need = (rec->cont.len ? 1 : 0) + n;
    }
    if (rec->cont.len)
        mida_buf_addc(&rec->cont, '\n');
    mida_buf_add(&rec->cont, p, n);
}

/* Emits the record of a rule that matched: its variables first (the
 * record sees them), then the record with the defaults and the workflow
 * id filled in.  0 (also when the record is skipped), or the sink's error. */
static int s_apply_rule(lf_state_t *st, lf_eval_t *ev, const lf_rule_t *rule, lf_pos_t *pos,
                        const char *where)
{
    const lf_rules_t *r = &st->rules;
    json_t *newvars = json_object(), *rec = NULL;
    int rc = 0;
    ev->newvars = newvars;
    ev->vars = pos->vars;
    ev->why[0] = '\0';
    if (rule->set) {
        const char *key;
        json_t *t;
        json_object_foreach(rule->set, key, t) {
            json_t *v;
            if (s_eval_string(ev, json_string_value(t), true, &v))
                goto skip;
            if (v)
                json_object_set_new(newvars, key, v);
        }
    }
    if (rule->record) {
        if (s_eval(ev, rule->record, &rec))
            goto skip;
        if (rec && r->defaults) {
            const pcre2_code *rre = ev->rre;
            ev->rre = NULL;   /* defaults see the same names wherever they apply */
            const char *key;
            json_t *t;
            json_object_foreach(r->defaults, key, t) {
                json_t *v;
                if (json_object_get(rec, key))
                    continue;
                if (s_eval(ev, t, &v)) {
                    ev->rre = rre;
                    goto skip;
                }
                if (v)
                    json_object_set_new(rec, key, v);
            }
            ev->rre = rre;
        }
        if (rec && !json_object_get(rec, "workflow_id")) {
            const char *p;
            size_t n;
            if (!s_lookup(ev, "workflow_id", &p, &n) || !n) {
                s_why(ev->why, sizeof ev->why, "no workflow_id: no rule has set the variable "
                      "workflow_id yet (give --workflow-id)");
                goto skip;
            }
            json_object_set_new(rec, "workflow_id", s_json_text(p, n));
        }
        if (rec) {
            char *text = json_dumps(rec, JSON_COMPACT);
            rc = text ? mida_observer_emit(st->obs, text, 0) : MIDA_ENOMEM;
            free(text);
            st->since_cursor++;
        }
    }
    json_object_update(pos->vars, newvars);
    json_decref(newvars);
    json_decref(rec);
    return rc;
skip:
    mida_observer_skip(st->obs, where, "rule \"%s\": %s", rule->name,
                       ev->why[0] ? ev->why : "out of memory");
    json_decref(newvars);
    json_decref(rec);
    return 0;
}

/* Handles one complete log record: each rule is tried in order until one
 * matches (and goes on past a rule with "continue").  0, or the sink's
 * error. */
static int s_process(lf_state_t *st, const lf_rec_t *rec, const char *file, lf_pos_t *pos,
                     mida_buf_t *subject)
{
    lf_rules_t *r = &st->rules;
    const char *line = mida_buf_str(&rec->first);
    int prc = pcre2_match(r->prefix, (PCRE2_SPTR)line, rec->first.len, 0, 0, r->pmd, NULL);
    if (prc <= 0)
        return 0;   /* it matched when it was read */
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(r->pmd);
    const char *msg;
    size_t msg_len;
    if (!s_group(r->prefix, r->pmd, prc, line, "message", &msg, &msg_len)) {
        msg = line + ov[1];
        msg_len = rec->first.len - ov[1];
    }
    mida_buf_reset(subject);
    mida_buf_add(subject, msg, msg_len);
    if (rec->cont.len) {
        mida_buf_addc(subject, '\n');
        if (rec->dropped)
            mida_buf_printf(subject, "[... %zu lines not kept]\n", rec->dropped);
        mida_buf_add(subject, rec->cont.data, rec->cont.len);
    }
    char where[4200];
    snprintf(where, sizeof where, "%s:%lld", file, rec->line);
    lf_eval_t ev = {.st = st, .line = line, .prc = prc, .subject = mida_buf_str(subject),
                    .subject_len = subject->len, .msg_len = msg_len, .file = file};
    snprintf(ev.lineno, sizeof ev.lineno, "%lld", rec->line);
    char iso[48];
    bool timed = false;
    for (size_t i = 0; i < r->n_rules; i++) {
        const lf_rule_t *rule = &r->rules[i];
        /* the message alone, or with the lines after it */
        int rrc = pcre2_match(rule->re, (PCRE2_SPTR)ev.subject,
                              rule->multiline ? ev.subject_len : ev.msg_len, 0, 0, rule->md, NULL);
        if (rrc == PCRE2_ERROR_NOMATCH)
            continue;
        if (rrc < 0) {
            PCRE2_UCHAR m[200];
            pcre2_get_error_message(rrc, m, sizeof m);
            mida_observer_skip(st->obs, where, "rule \"%s\": matching failed: %s", rule->name,
                               (const char *)m);
            continue;
        }
        if (!timed && r->time.group) {
            /* the prefix match is redone: a rule's $findall does not touch it */
            const char *tp;
            size_t tn;
            timed = true;
            if (s_group(r->prefix, r->pmd, prc, line, r->time.group, &tp, &tn)) {
                long long secs = 0;
                long usec = 0;
                if (s_parse_time(&r->time, tp, tn, &secs, &usec, ev.why, sizeof ev.why) ||
                    mida_time_from_epoch_us(secs * 1000000LL + usec, iso, sizeof iso)) {
                    mida_observer_skip(st->obs, where, "%s", *ev.why ? ev.why : "time out of range");
                    return 0;
                }
                ev.time_iso = iso;
            }
        }
        ev.rre = rule->re;
        ev.rmd = rule->md;
        ev.rrc = rrc;
        int rc = s_apply_rule(st, &ev, rule, pos, where);
        if (rc)
            return rc;
        if (!rule->cont)
            break;
    }
    return 0;
}

/* ---- reading a file ---------------------------------------------------------------------- */

typedef struct lf_reader {
    int fd;
    char *buf;
    size_t cap, len, pos;    /* buf[pos..len) is not read yet */
    long long base;          /* the file offset of buf[0] */
    long long resume;        /* >= 0: an over-long line ended; go on from there */
} lf_reader_t;

/* The next line.  1: a complete line in *p, *n (without its newline; cut
 * to LF_MAX_LINE bytes), starting at *off, the next one at *next.  0: the
 * end of the file, with an unfinished last line in *p, *n (n may be 0).
 * MIDA_EIO on a read error (errno). */
static int s_read_line(lf_reader_t *rd, const char **p, size_t *n, long long *off, long long *next)
{
    if (rd->resume >= 0) {
        rd->base = rd->resume;
        rd->len = rd->pos = 0;
        rd->resume = -1;
    }
    size_t scan = rd->pos;
    for (;;) {
        char *nl = memchr(rd->buf + scan, '\n', rd->len - scan);
        if (nl) {
            *p = rd->buf + rd->pos;
            *n = (size_t)(nl - *p);
            *off = rd->base + (long long)rd->pos;
            rd->pos = (size_t)(nl - rd->buf) + 1;
            *next = rd->base + (long long)rd->pos;
            return 1;
        }
        if (rd->pos > 0) {
            memmove(rd->buf, rd->buf + rd->pos, rd->len - rd->pos);
            rd->base += (long long)rd->pos;
            rd->len -= rd->pos;
            rd->pos = 0;
        }
        scan = rd->len;
        if (rd->len == rd->cap) {
            if (rd->cap < LF_MAX_LINE) {
                size_t cap = rd->cap * 2 > LF_MAX_LINE ? LF_MAX_LINE : rd->cap * 2;
                char *b = realloc(rd->buf, cap);
                if (!b) {
                    errno = ENOMEM;
                    return MIDA_EIO;
                }
                rd->buf = b;
                rd->cap = cap;
            } else {
                /* an over-long line: its first LF_MAX_LINE bytes are kept,
                 * the rest is only searched for its end */
                long long at = rd->base + (long long)rd->len;
                char tmp[16384];
                for (;;) {
                    ssize_t k = pread(rd->fd, tmp, sizeof tmp, (off_t)at);
                    if (k < 0 && errno == EINTR)
                        continue;
                    if (k < 0)
                        return MIDA_EIO;
                    *p = rd->buf;
                    *n = rd->len;
                    *off = rd->base;
                    if (k == 0) {
                        *next = at;
                        return 0;
                    }
                    char *e = memchr(tmp, '\n', (size_t)k);
                    if (e) {
                        *next = at + (e - tmp) + 1;
                        rd->resume = *next;
                        rd->pos = rd->len;
                        return 1;
                    }
                    at += k;
                }
            }
        }
        ssize_t k = pread(rd->fd, rd->buf + rd->len, rd->cap - rd->len, (off_t)(rd->base + (long long)rd->len));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return MIDA_EIO;
        if (k == 0) {
            *p = rd->buf + rd->pos;
            *n = rd->len - rd->pos;
            *off = rd->base + (long long)rd->pos;
            *next = rd->base + (long long)rd->len;
            return 0;
        }
        rd->len += (size_t)k;
    }
}

static json_t *s_pos_json(const lf_pos_t *pos)
{
    char dev[24], ino[24], head[24];
    snprintf(dev, sizeof dev, "%llu", pos->dev);
    snprintf(ino, sizeof ino, "%llu", pos->ino);
    snprintf(head, sizeof head, "%016llx", pos->head);
    return json_pack("{s:{s:s, s:s, s:I, s:I, s:I, s:s, s:i}, s:O}", "file", "dev", dev, "ino", ino,
                     "off", (json_int_t)pos->off, "line", (json_int_t)pos->line, "mtime_ns",
                     (json_int_t)pos->mtime_ns, "head", head, "head_len", pos->head_len, "vars",
                     pos->vars);
}

static int s_set_cursor(lf_state_t *st, const lf_pos_t *pos)
{
    if (!pos->have)
        return 0;
    json_t *j = s_pos_json(pos);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    int rc = text ? mida_observer_set_cursor(st->obs, text) : MIDA_ENOMEM;
    free(text);
    st->since_cursor = 0;
    return rc;
}

/* Reads the cursor text into pos; a cursor that cannot be read starts
 * the file afresh (re-sending is harmless, refusing to start is not). */
static void s_pos_load(lf_state_t *st, const char *text, lf_pos_t *pos)
{
    memset(pos, 0, sizeof *pos);
    pos->line = 1;
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    json_t *f = json_object_get(doc, "file"), *vars = json_object_get(doc, "vars");
    const char *dev = json_string_value(json_object_get(f, "dev"));
    const char *ino = json_string_value(json_object_get(f, "ino"));
    const char *head = json_string_value(json_object_get(f, "head"));
    json_t *off = json_object_get(f, "off"), *line = json_object_get(f, "line");
    if (text && (!dev || !ino || !head || !json_is_integer(off) || !json_is_integer(line) ||
                 !json_is_object(vars))) {
        mida_observer_log(st->obs, MIDA_LOG_WARN, "the cursor is not one of this adapter's: "
                          "reading %s from its start", st->path);
    } else if (text) {
        pos->have = true;
        pos->dev = strtoull(dev, NULL, 10);
        pos->ino = strtoull(ino, NULL, 10);
        pos->off = json_integer_value(off);
        pos->line = json_integer_value(line);
        pos->mtime_ns = json_integer_value(json_object_get(f, "mtime_ns"));
        pos->head = strtoull(head, NULL, 16);
        pos->head_len = (int)json_integer_value(json_object_get(f, "head_len"));
        if (pos->off < 0 || pos->line < 1 || pos->head_len < 0 || pos->head_len > LF_HEAD_BYTES)
            pos->have = false;
        pos->vars = json_deep_copy(vars);
    }
    json_decref(doc);
    if (!pos->vars) {
        pos->vars = st->rules.variables ? json_deep_copy(st->rules.variables) : json_object();
    }
}

/* The FNV-1a of the first `want` bytes of fd (fewer if the file is
 * shorter: *got says how many). */
static int s_head(int fd, int want, unsigned long long *h, int *got)
{
    unsigned char b[LF_HEAD_BYTES];
    ssize_t k;
    do
        k = pread(fd, b, (size_t)want, 0);
    while (k < 0 && errno == EINTR);
    if (k < 0)
        return MIDA_EIO;
    *h = s_fnv1a(b, (size_t)k);
    *got = (int)k;
    return 0;
}

/* Whether fd starts with the bytes pos saw. */
static bool s_same_head(int fd, const lf_pos_t *pos)
{
    unsigned long long h;
    int got;
    if (s_head(fd, pos->head_len, &h, &got))
        return false;
    return got == pos->head_len && h == pos->head;
}

/* Whether the file has stopped growing: nothing past `end` and no change
 * for the quiet period. */
static bool s_quiet(const lf_state_t *st, int fd, long long end)
{
    struct stat sb;
    struct timespec now;
    if (fstat(fd, &sb) != 0 || (long long)sb.st_size != end ||
        clock_gettime(CLOCK_REALTIME, &now) != 0)
        return false;
    long long age = ((long long)now.tv_sec * 1000000000LL + now.tv_nsec) - s_mtime_ns(&sb);
    return (double)age >= st->quiet * 1e9;
}

/* Reads file fd (called `name`) from pos: every complete record is
 * handled; the last one too when `final` (the file was rotated away) or
 * when the file is quiet.  pos ends at the first record not handled.
 * 0, or an error with the reason in err. */
static int s_read_file(lf_state_t *st, int fd, const char *name, lf_pos_t *pos, bool final,
                       char *err, size_t errlen)
{
    lf_rules_t *r = &st->rules;
    lf_reader_t rd = {fd, malloc(65536), 65536, 0, 0, pos->off, -1};
    lf_rec_t rec = {0};
    mida_buf_t subject;
    mida_buf_init(&rec.first, LF_MAX_LINE + 1);
    mida_buf_init(&rec.cont, LF_MAX_CONT + 1);
    mida_buf_init(&subject, LF_MAX_LINE + LF_MAX_CONT + 64);
    long long lineno = pos->line, end = pos->off;
    size_t lines = 0, records = 0;
    int rc = 0;
    if (!rd.buf) {
        rc = s_fail(err, errlen, MIDA_ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        const char *p;
        size_t n;
        long long off, next;
        int lrc = s_read_line(&rd, &p, &n, &off, &next);
        if (lrc < 0) {
            rc = s_fail(err, errlen, MIDA_EIO, "cannot read %s: %s", name, strerror(errno));
            goto out;
        }
        if (lrc == 0 && n == 0)
            break;
        if (n && p[n - 1] == '\r')
            n--;   /* a log written with CRLF line ends */
        bool starts = pcre2_match(r->prefix, (PCRE2_SPTR)p, n, 0, 0, r->pmd, NULL) > 0;
        if (lrc == 0 && !final) {
            /* a line still being written: the record before it is complete
             * only when this line visibly starts the next one */
            if (rec.active && starts) {
                if ((rc = s_process(st, &rec, name, pos, &subject)))
                    goto out;
                rec.active = false;
            }
            if (!rec.active) {
                pos->off = off;
                pos->line = lineno;
            }
            goto out;
        }
        lines++;
        end = next;
        if (starts) {
            if (rec.active && (rc = s_process(st, &rec, name, pos, &subject)))
                goto out;
            rec.active = true;
            rec.off = off;
            rec.line = lineno;
            rec.dropped = 0;
            mida_buf_reset(&rec.first);
            mida_buf_reset(&rec.cont);
            mida_buf_add(&rec.first, p, n);
            pos->off = off;
            pos->line = lineno;
            records++;
            if (st->since_cursor >= LF_CURSOR_EVERY && (rc = s_set_cursor(st, pos)))
                goto out;
        } else if (rec.active) {
            s_cont_add(&rec, p, n);
        } else {
            /* not part of any record (the file starts mid-record, or the
             * prefix does not fit this file): passed over */
            pos->off = next;
            pos->line = lineno + 1;
        }
        lineno++;
        if (lrc == 0)
            break;   /* a rotated file's unfinished last line, taken as it is */
    }
    if (rec.active && (final || s_quiet(st, fd, end))) {
        if ((rc = s_process(st, &rec, name, pos, &subject)))
            goto out;
        rec.active = false;
    }
    if (!rec.active) {
        pos->off = end;
        pos->line = lineno;
    }
out:
    if (rc && !*err)
        s_fail(err, errlen, rc, "%s: a record of line %lld could not be delivered", name, pos->line);
    if (!rc && lines && !records && !st->warned_prefix) {
        st->warned_prefix = true;
        mida_observer_log(st->obs, MIDA_LOG_WARN, "%s: none of %zu lines matches the record prefix "
                          "of %s; they are passed over (are these the right rules?)", name, lines,
                          r->path);
    }
    free(rd.buf);
    mida_buf_free(&rec.first);
    mida_buf_free(&rec.cont);
    mida_buf_free(&subject);
    return rc;
}

/* Reads an open file into pos: from pos when `fresh` is false (it is the
 * file pos names), else from its start.  Sets the cursor after it. */
static int s_read_one(lf_state_t *st, int fd, const struct stat *sb, const char *name, lf_pos_t *pos,
                      bool fresh, bool final, char *err, size_t errlen)
{
    int rc = 0;
    if (fresh) {
        pos->dev = (unsigned long long)sb->st_dev;
        pos->ino = (unsigned long long)sb->st_ino;
        pos->off = 0;
        pos->line = 1;
        pos->mtime_ns = s_mtime_ns(sb);
        /* now, so that a cursor set in the middle of the file has it */
        if (s_head(fd, LF_HEAD_BYTES, &pos->head, &pos->head_len))
            return s_fail(err, errlen, MIDA_EIO, "cannot read %s: %s", name, strerror(errno));
    }
    pos->have = true;
    rc = s_read_file(st, fd, name, pos, final, err, errlen);
    struct stat now;
    if (!rc && fstat(fd, &now) == 0) {
        pos->mtime_ns = s_mtime_ns(&now);
        if (s_head(fd, LF_HEAD_BYTES, &pos->head, &pos->head_len))
            rc = s_fail(err, errlen, MIDA_EIO, "cannot read %s: %s", name, strerror(errno));
    }
    if (!rc)
        rc = s_set_cursor(st, pos);
    return rc;
}

/* ---- rotation --------------------------------------------------------------------------- */

typedef struct lf_sib {
    char *path;
    unsigned long long dev, ino;
    long long mtime_ns;
    long rot;              /* N of PATH.N; -1 for another suffix */
} lf_sib_t;

/* Older first: by mtime, then PATH.3 before PATH.2, then by name. */
static int s_sib_cmp(const void *a, const void *b)
{
    const lf_sib_t *x = a, *y = b;
    if (x->mtime_ns != y->mtime_ns)
        return x->mtime_ns < y->mtime_ns ? -1 : 1;
    if (x->rot != y->rot)
        return x->rot > y->rot ? -1 : 1;
    return strcmp(x->path, y->path);
}

static void s_sibs_free(lf_sib_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i].path);
    free(s);
}

/* The rotated copies of path: PATH.*, PATH-*, PATH_* that are regular
 * files and not compressed, oldest first. */
static int s_siblings(const char *path, lf_sib_t **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    const char *slash = strrchr(path, '/');
    char dir[4096];
    const char *base = slash ? slash + 1 : path;
    if (slash)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path) ? (int)(slash - path) : 1, path);
    else
        snprintf(dir, sizeof dir, ".");
    DIR *d = opendir(dir);
    if (!d)
        return MIDA_EIO;
    size_t blen = strlen(base), n = 0, cap = 0;
    lf_sib_t *s = NULL;
    struct dirent *e;
    static const char *const packed[] = {".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".Z"};
    while ((e = readdir(d)) && n < LF_MAX_SIBLINGS) {
        const char *nm = e->d_name;
        if (strncmp(nm, base, blen) || !strchr(".-_", nm[blen]) || !nm[blen] || !nm[blen + 1])
            continue;
        size_t nl = strlen(nm);
        bool skip = false;
        for (size_t i = 0; i < sizeof packed / sizeof *packed; i++) {
            size_t pl = strlen(packed[i]);
            skip |= nl > pl && !strcmp(nm + nl - pl, packed[i]);
        }
        char full[8192];
        struct stat sb;
        snprintf(full, sizeof full, "%s/%s", dir, nm);
        if (skip || stat(full, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            lf_sib_t *g = realloc(s, cap * sizeof *s);
            if (!g)
                break;
            s = g;
        }
        char *endp;
        long rot = strtol(nm + blen + 1, &endp, 10);
        s[n] = (lf_sib_t){strdup(full), (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino,
                          s_mtime_ns(&sb), (*endp || nm[blen] != '.' || rot < 0) ? -1 : rot};
        if (!s[n].path)
            break;
        n++;
    }
    closedir(d);
    if (n)
        qsort(s, n, sizeof *s, s_sib_cmp);
    *out = s;
    *count = n;
    return 0;
}

static int s_open(const char *path, struct stat *sb)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd >= 0 && fstat(fd, sb) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The file pos was reading is no longer `path`: finishes it where it now
 * lies (a sibling), then reads the siblings written after it, oldest
 * first.  `skip_ino` is the inode `path` names now (read next). */
static int s_follow_rotation(lf_state_t *st, lf_pos_t *pos, const struct stat *cur, char *err,
                             size_t errlen)
{
    lf_sib_t *sibs;
    size_t n, from = 0;
    int rc = 0;
    if (s_siblings(st->path, &sibs, &n)) {
        mida_observer_log(st->obs, MIDA_LOG_WARN, "%s was rotated, but its directory cannot be "
                          "listed (%s): the rest of the old file is lost", st->path, strerror(errno));
        return 0;
    }
    size_t k = 0;
    bool found = false;
    for (; k < n; k++)
        if (sibs[k].dev == pos->dev && sibs[k].ino == pos->ino)
            break;
    if (k < n) {
        struct stat sb;
        int fd = s_open(sibs[k].path, &sb);
        if (fd >= 0 && (unsigned long long)sb.st_ino == pos->ino && s_same_head(fd, pos) &&
            (long long)sb.st_size >= pos->off) {
            found = true;
            rc = s_read_one(st, fd, &sb, sibs[k].path, pos, false, true, err, errlen);
            from = k + 1;
        }
        if (fd >= 0)
            close(fd);
    }
    if (!found) {
        mida_observer_log(st->obs, MIDA_LOG_WARN, "%s was rotated and the file read before (inode "
                          "%llu) is gone: what was written to it after offset %lld (line %lld) is "
                          "not read", st->path, pos->ino, pos->off, pos->line);
        while (from < n && sibs[from].mtime_ns < pos->mtime_ns)
            from++;
    }
    for (size_t i = from; !rc && i < n; i++) {
        if (cur && sibs[i].dev == (unsigned long long)cur->st_dev &&
            sibs[i].ino == (unsigned long long)cur->st_ino)
            continue;
        if (sibs[i].dev == pos->dev && sibs[i].ino == pos->ino)
            continue;
        struct stat sb;
        int fd = s_open(sibs[i].path, &sb);
        if (fd < 0)
            continue;   /* rotated away again meanwhile: the next poll finds it */
        rc = s_read_one(st, fd, &sb, sibs[i].path, pos, true, true, err, errlen);
        close(fd);
    }
    s_sibs_free(sibs, n);
    return rc;
}

/* ---- the adapter ------------------------------------------------------------------------- */

static void s_close(void *state)
{
    lf_state_t *st = state;
    if (!st)
        return;
    s_rules_free(&st->rules);
    mida_buf_free(&st->text);
    free(st->path);
    free(st);
}

static int s_init(mida_observer_t *obs, void **state, char *err, size_t errlen)
{
    lf_state_t *st = calloc(1, sizeof *st);
    *state = st;
    if (!st)
        return s_fail(err, errlen, MIDA_ENOMEM, "out of memory");
    st->obs = obs;
    mida_buf_init(&st->text, LF_MAX_TEXT);
    const char *file = mida_observer_option(obs, "file");
    const char *rules = mida_observer_option(obs, "rules");
    const char *quiet = mida_observer_option(obs, "quiet-period");
    st->workflow_id = mida_observer_option(obs, "workflow-id");
    st->wait = mida_observer_option(obs, "wait") != NULL;
    st->quiet = 1;
    if (!file || !*file || !rules || !*rules)
        return s_fail(err, errlen, MIDA_EINVAL, "logfile needs --file PATH and --rules FILE");
    if (st->workflow_id && !*st->workflow_id)
        return s_fail(err, errlen, MIDA_EINVAL, "--workflow-id wants an id, got ''");
    if (quiet) {
        char *end;
        st->quiet = strtod(quiet, &end);
        if (!*quiet || *end || !(st->quiet >= 0) || st->quiet > 86400)
            return s_fail(err, errlen, MIDA_EINVAL, "--quiet-period wants seconds (0..86400), "
                          "got '%s'", quiet);
    }
    if (!(st->path = strdup(file)))
        return s_fail(err, errlen, MIDA_ENOMEM, "out of memory");
    int rc = s_rules_load(&st->rules, rules, mida_observer_option(obs, "tz"), err, errlen);
    if (rc)
        return rc;
    struct stat sb;
    if (stat(file, &sb) != 0) {
        if (errno != ENOENT || !(st->wait || mida_observer_cursor(obs)))
            return s_fail(err, errlen, MIDA_ENOTFOUND, "cannot open %s: %s%s", file, strerror(errno),
                          errno == ENOENT ? " (--wait waits for it)" : "");
    } else if (!S_ISREG(sb.st_mode)) {
        return s_fail(err, errlen, MIDA_EINVAL, "%s: not a regular file", file);
    }
    return 0;
}

static int s_observe(void *state, mida_observer_t *obs, char *err, size_t errlen)
{
    lf_state_t *st = state;
    lf_pos_t pos;
    s_pos_load(st, mida_observer_cursor(obs), &pos);
    if (!pos.vars)
        return s_fail(err, errlen, MIDA_ENOMEM, "out of memory");
    st->since_cursor = 0;
    struct stat sb;
    int rc = 0, fd = s_open(st->path, &sb);
    if (fd < 0 && errno != ENOENT) {
        rc = s_fail(err, errlen, MIDA_EIO, "cannot open %s: %s", st->path, strerror(errno));
        goto out;
    }
    bool same = pos.have && fd >= 0 && (unsigned long long)sb.st_dev == pos.dev &&
                (unsigned long long)sb.st_ino == pos.ino;
    if (same) {
        bool restart = false;
        if ((long long)sb.st_size < pos.off) {
            mida_observer_log(st->obs, MIDA_LOG_INFO, "%s is shorter than before (%lld < %lld "
                              "bytes: truncated, as by copytruncate): reading it from its start",
                              st->path, (long long)sb.st_size, pos.off);
            restart = true;
        } else if (!s_same_head(fd, &pos)) {
            mida_observer_log(st->obs, MIDA_LOG_INFO, "%s does not start as before (truncated and "
                              "written again, or a new file with the same inode): reading it "
                              "from its start", st->path);
            restart = true;
        }
        rc = s_read_one(st, fd, &sb, st->path, &pos, restart, false, err, errlen);
    } else {
        if (pos.have)
            rc = s_follow_rotation(st, &pos, fd >= 0 ? &sb : NULL, err, errlen);
        if (!rc && fd >= 0)
            rc = s_read_one(st, fd, &sb, st->path, &pos, true, false, err, errlen);
        else if (!rc && !pos.have)
            rc = s_fail(err, errlen, MIDA_EAGAIN, "%s does not exist yet", st->path);
    }
out:
    if (fd >= 0)
        close(fd);
    json_decref(pos.vars);
    return rc;
}

static const mida_adapter_option_t s_options[] = {
    {"file", "PATH", "the log file to follow (written by Python's logging module)", true},
    {"rules", "FILE", "the rules (JSON) that turn its records into task records; shipped: "
     "adapters/logfile/rules/*.json", true},
    {"workflow-id", "ID", "workflow_id of records before (or without) a rule that sets one", false},
    {"tz", "ZONE", "zone of times written without one: local, UTC or +HH:MM (overrides the rules)",
     false},
    {"quiet-period", "S", "the last record counts as complete once the file has not changed for "
     "S seconds (default 1)", false},
    {"wait", NULL, "the file may not exist yet: wait for it", false},
    {NULL, NULL, NULL, false}};

const mida_adapter_t mida_adapter_logfile = {MIDA_ADAPTER_ABI, "logfile",
                                             "a Python logging file, by rules (rotation-aware)",
                                             "file", s_options, s_init, s_observe, s_close};
