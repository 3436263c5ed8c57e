#include "chatd_icu.h"
#include <pthread.h>
#include <unicode/unorm2.h>
#include <unicode/uspoof.h>

int32_t chatd_icu_normalize(int form, const uint16_t *source, int32_t length, uint16_t *destination, int32_t capacity) {
    UErrorCode status = U_ZERO_ERROR;
    const UNormalizer2 *normalizer = form == CHATD_ICU_NFKC ? unorm2_getNFKCInstance(&status)
        : form == CHATD_ICU_NFKC_CASEFOLD                     ? unorm2_getNFKCCasefoldInstance(&status)
                                                              : unorm2_getNFDInstance(&status);
    if (U_FAILURE(status)) return -1;
    int32_t needed = unorm2_normalize(normalizer, (const UChar *)source, length, (UChar *)destination, capacity, &status);
    if (status == U_BUFFER_OVERFLOW_ERROR) return needed;
    return U_FAILURE(status) ? -1 : needed;
}

/// One spoof checker, made on first use and only read after that: ICU's checks may run on
/// several threads at once.
static USpoofChecker *checker;
static pthread_once_t checkerOnce = PTHREAD_ONCE_INIT;

static void openChecker(void) {
    UErrorCode status = U_ZERO_ERROR;
    USpoofChecker *made = uspoof_open(&status);
    if (U_FAILURE(status)) return;
    uspoof_setChecks(made, USPOOF_CONFUSABLE, &status);
    if (U_FAILURE(status)) {
        uspoof_close(made);
        return;
    }
    checker = made;
}

int32_t chatd_icu_skeleton(const uint16_t *source, int32_t length, uint16_t *destination, int32_t capacity) {
    pthread_once(&checkerOnce, openChecker);
    if (!checker) return -1;
    UErrorCode status = U_ZERO_ERROR;
    int32_t needed = uspoof_getSkeleton(checker, 0, (const UChar *)source, length, (UChar *)destination, capacity, &status);
    if (status == U_BUFFER_OVERFLOW_ERROR) return needed;
    return U_FAILURE(status) ? -1 : needed;
}
