/* zone.c - the zone of times that tools write without one. */
#include "common/zone.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

int zone_parse(const char *text, zone_t *zone)
{
    zone->local = false;
    zone->offset = 0;
    if (!text)
        return -1;
    if (!strcasecmp(text, "local")) {
        zone->local = true;
        return 0;
    }
    const char *s = text;
    if (!strncasecmp(s, "UTC", 3) || !strncasecmp(s, "GMT", 3))
        s += 3;
    if (!*s || !strcasecmp(s, "Z"))
        return 0;
    int sign = *s == '+' ? 1 : *s == '-' ? -1 : 0;
    const char *d = s + 1;
    if (!sign || !isdigit((unsigned char)d[0]) || !isdigit((unsigned char)d[1]))
        return -1;
    int hh = (d[0] - '0') * 10 + (d[1] - '0'), mm = 0;
    d += 2;
    if (*d == ':')
        d++;
    if (*d) {
        if (!isdigit((unsigned char)d[0]) || !isdigit((unsigned char)d[1]) || d[2])
            return -1;
        mm = (d[0] - '0') * 10 + (d[1] - '0');
    } else if (d[-1] == ':') {
        return -1;
    }
    if (hh > 18 || mm > 59)
        return -1;
    zone->offset = sign * (hh * 3600L + mm * 60L);
    return 0;
}

bool zone_epoch(const zone_t *zone, const struct tm *tm, time_t *out)
{
    struct tm t = *tm;
    if (!zone->local) {
        *out = timegm(&t) - zone->offset;
        return true;
    }
    t.tm_isdst = -1;
    errno = 0;
    *out = mktime(&t);
    return !(*out == (time_t)-1 && errno);
}
