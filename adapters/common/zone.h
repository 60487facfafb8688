/* zone.h - the zone of times that tools write without one.
 *
 * What the parsl and logfile adapters share: Parsl's monitoring database and
 * Python's logging write naive local times, so the observer is told their
 * zone (--tz local | UTC | +HH:MM) and turns broken-down times into epoch
 * seconds with it.
 */
#ifndef MIDA_ZONE_H
#define MIDA_ZONE_H

#include <stdbool.h>
#include <time.h>

typedef struct zone {
    bool local;     /* the observer's own zone ($TZ), daylight saving included */
    long offset;    /* else: seconds east of UTC */
} zone_t;

/* "local"; "UTC", "GMT" or "Z"; or an offset "+HH", "+HHMM", "+HH:MM" (also
 * after "UTC"/"GMT").  0, or -1 when `text` is none of these. */
int zone_parse(const char *text, zone_t *zone);
/* The epoch seconds of the broken-down time `tm` read in `zone` (tm_isdst is
 * ignored: mktime picks one reading of the hour that the end of daylight
 * saving repeats).  False when the time cannot be represented. */
bool zone_epoch(const zone_t *zone, const struct tm *tm, time_t *out);

#endif
