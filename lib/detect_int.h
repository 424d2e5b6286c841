/*
 * detect_int.h - helpers shared by the detector files (lib/detect*.c) only.
 */
#ifndef BS_DETECT_INT_H
#define BS_DETECT_INT_H

#include "detect.h"

/* The key the firing memory uses: the subscriber, or "ip:ADDR". */
const char *det_subject_key(const struct det_subject *s, char *buf, size_t size);

#endif
