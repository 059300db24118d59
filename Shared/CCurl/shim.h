#pragma once
#include <curl/curl.h>

// curl_easy_setopt, curl_easy_getinfo and curl_multi_setopt are variadic, so Swift cannot call them.
// These typed wrappers are the only way PazHTTP sets options or reads transfer information.

typedef size_t (*paz_curl_data_callback)(char *data, size_t size, size_t count, void *context);

static inline CURLcode paz_curl_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode paz_curl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

/// For string options (libcurl copies the string, except for CURLOPT_POSTFIELDS which PazHTTP never uses).
static inline CURLcode paz_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

/// For pointer options whose memory the caller keeps alive for the whole transfer (context pointers,
/// the error buffer, the header list).
static inline CURLcode paz_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode paz_curl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

/// For CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION.
static inline CURLcode paz_curl_easy_setopt_data_callback(CURL *handle, CURLoption option,
                                                          paz_curl_data_callback value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode paz_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode paz_curl_easy_getinfo_double(CURL *handle, CURLINFO info, double *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLMcode paz_curl_multi_setopt_long(CURLM *handle, CURLMoption option, long value) {
    return curl_multi_setopt(handle, option, value);
}

/// The result code of a finished transfer (CURLMsg keeps it in an anonymous union).
static inline CURLcode paz_curl_msg_result(const CURLMsg *message) {
    return message->data.result;
}

/// True when the message says a transfer finished.
static inline int paz_curl_msg_is_done(const CURLMsg *message) {
    return message->msg == CURLMSG_DONE;
}

/// curl_global_init(CURL_GLOBAL_DEFAULT) (the flag is a macro expression Swift does not import).
static inline CURLcode paz_curl_global_init_default(void) {
    return curl_global_init(CURL_GLOBAL_DEFAULT);
}
