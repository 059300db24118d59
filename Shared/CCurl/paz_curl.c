#include "paz_curl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>

// The libcurl functions PazHTTP uses, resolved once by paz_curl_global_init_default.
static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
    CURLMcode (*multi_wakeup)(CURLM *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    const char *(*multi_strerror)(CURLMcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} api;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode init_result = CURLE_FAILED_INIT;
static const char *load_error = NULL;

#define RESOLVE(field, symbol)                                   \
    do {                                                         \
        *(void **)(&api.field) = dlsym(library, symbol);         \
        if (api.field == NULL) {                                 \
            load_error = "libcurl.so.4 lacks " symbol;           \
            return;                                              \
        }                                                        \
    } while (0)

static void load(void) {
    void *library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        load_error = dlerror();
        return;
    }
    RESOLVE(global_init, "curl_global_init");
    RESOLVE(easy_init, "curl_easy_init");
    RESOLVE(easy_cleanup, "curl_easy_cleanup");
    RESOLVE(easy_strerror, "curl_easy_strerror");
    RESOLVE(easy_setopt, "curl_easy_setopt");
    RESOLVE(easy_getinfo, "curl_easy_getinfo");
    RESOLVE(multi_init, "curl_multi_init");
    RESOLVE(multi_cleanup, "curl_multi_cleanup");
    RESOLVE(multi_setopt, "curl_multi_setopt");
    RESOLVE(multi_add_handle, "curl_multi_add_handle");
    RESOLVE(multi_remove_handle, "curl_multi_remove_handle");
    RESOLVE(multi_perform, "curl_multi_perform");
    RESOLVE(multi_poll, "curl_multi_poll");
    RESOLVE(multi_wakeup, "curl_multi_wakeup");
    RESOLVE(multi_info_read, "curl_multi_info_read");
    RESOLVE(multi_strerror, "curl_multi_strerror");
    RESOLVE(slist_append, "curl_slist_append");
    RESOLVE(slist_free_all, "curl_slist_free_all");
    init_result = api.global_init(CURL_GLOBAL_DEFAULT);
}

CURLcode paz_curl_global_init_default(void) {
    pthread_once(&once, load);
    return init_result;
}

const char *paz_curl_load_error(void) { return load_error; }

CURL *paz_curl_easy_init(void) { return api.easy_init(); }
void paz_curl_easy_cleanup(CURL *handle) { api.easy_cleanup(handle); }
const char *paz_curl_easy_strerror(CURLcode code) { return api.easy_strerror(code); }

CURLcode paz_curl_easy_setopt_long(CURL *handle, CURLoption option, long value) { return api.easy_setopt(handle, option, value); }
CURLcode paz_curl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) { return api.easy_setopt(handle, option, value); }
CURLcode paz_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value) { return api.easy_setopt(handle, option, value); }
CURLcode paz_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) { return api.easy_setopt(handle, option, value); }
CURLcode paz_curl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return api.easy_setopt(handle, option, value);
}
CURLcode paz_curl_easy_setopt_data_callback(CURL *handle, CURLoption option, paz_curl_data_callback value) {
    return api.easy_setopt(handle, option, value);
}
CURLcode paz_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) { return api.easy_getinfo(handle, info, value); }
CURLcode paz_curl_easy_getinfo_double(CURL *handle, CURLINFO info, double *value) { return api.easy_getinfo(handle, info, value); }

CURLM *paz_curl_multi_init(void) { return api.multi_init(); }
CURLMcode paz_curl_multi_cleanup(CURLM *multi) { return api.multi_cleanup(multi); }
CURLMcode paz_curl_multi_setopt_long(CURLM *multi, CURLMoption option, long value) { return api.multi_setopt(multi, option, value); }
CURLMcode paz_curl_multi_add_handle(CURLM *multi, CURL *handle) { return api.multi_add_handle(multi, handle); }
CURLMcode paz_curl_multi_remove_handle(CURLM *multi, CURL *handle) { return api.multi_remove_handle(multi, handle); }
CURLMcode paz_curl_multi_perform(CURLM *multi, int *running) { return api.multi_perform(multi, running); }
CURLMcode paz_curl_multi_poll(CURLM *multi, struct curl_waitfd *extra, unsigned int count, int timeout_ms, int *ready) {
    return api.multi_poll(multi, extra, count, timeout_ms, ready);
}
CURLMcode paz_curl_multi_wakeup(CURLM *multi) { return api.multi_wakeup(multi); }
CURLMsg *paz_curl_multi_info_read(CURLM *multi, int *remaining) { return api.multi_info_read(multi, remaining); }
const char *paz_curl_multi_strerror(CURLMcode code) { return api.multi_strerror(code); }

struct curl_slist *paz_curl_slist_append(struct curl_slist *list, const char *line) { return api.slist_append(list, line); }
void paz_curl_slist_free_all(struct curl_slist *list) { api.slist_free_all(list); }

CURLcode paz_curl_msg_result(const CURLMsg *message) { return message->data.result; }
int paz_curl_msg_is_done(const CURLMsg *message) { return message->msg == CURLMSG_DONE; }
