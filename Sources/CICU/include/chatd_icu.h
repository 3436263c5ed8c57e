#ifndef CHATD_ICU_H
#define CHATD_ICU_H
// The system's ICU (Debian's libicu) for names: NFKC normalization and UTS #39 confusable
// skeletons. ICU's own headers stay inside icu.c: Foundation brings a copy of ICU's headers of
// another version, and the two cannot both be visible to Swift. UTF-16 in and out.
#include <stdint.h>

/// Which normalization `chatd_icu_normalize` applies.
enum { CHATD_ICU_NFKC = 0, CHATD_ICU_NFKC_CASEFOLD = 1, CHATD_ICU_NFD = 2 };

/// Normalizes `source` into `destination`; returns the length the result needs, or -1 on error.
/// A result longer than `capacity` is not written: call again with a buffer that size.
int32_t chatd_icu_normalize(int form, const uint16_t *source, int32_t length, uint16_t *destination, int32_t capacity);

/// The UTS #39 skeleton of `source` into `destination`, as `chatd_icu_normalize`; -1 on error,
/// or when ICU has no confusables data.
int32_t chatd_icu_skeleton(const uint16_t *source, int32_t length, uint16_t *destination, int32_t capacity);
#endif
