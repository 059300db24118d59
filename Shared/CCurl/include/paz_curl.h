#pragma once
#include <curl/curl.h>

// libcurl, loaded on first use (dlopen of libcurl.so.4), not at process start: a service that has
// made no HTTP request yet does not map libcurl and the libraries it pulls in (krb5, ldap, gnutls,
// rtmp, nghttp2, ssh2…, about 7 MB of resident pages). These functions are the only way PazHTTP
// calls libcurl; the variadic ones (setopt, getinfo) come in typed forms Swift can call.

/// Loads libcurl and runs curl_global_init(CURL_GLOBAL_DEFAULT) once per process. CURLE_FAILED_INIT
/// when the library cannot be loaded (paz_curl_load_error says why). Call it (and check it) before
/// any other function here.
CURLcode paz_curl_global_init_default(void);
/// Why loading libcurl failed (dlerror's text), or NULL.
const char *paz_curl_load_error(void);

CURL *paz_curl_easy_init(void);
void paz_curl_easy_cleanup(CURL *handle);
const char *paz_curl_easy_strerror(CURLcode code);

typedef size_t (*paz_curl_data_callback)(char *data, size_t size, size_t count, void *context);

CURLcode paz_curl_easy_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode paz_curl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value);
/// For string options (libcurl copies the string, except for CURLOPT_POSTFIELDS which PazHTTP never uses).
CURLcode paz_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value);
/// For pointer options whose memory the caller keeps alive for the whole transfer (context pointers,
/// the error buffer, the header list).
CURLcode paz_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode paz_curl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
/// For CURLOPT_WRITEFUNCTION and CURLOPT_HEADERFUNCTION.
CURLcode paz_curl_easy_setopt_data_callback(CURL *handle, CURLoption option, paz_curl_data_callback value);
CURLcode paz_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode paz_curl_easy_getinfo_double(CURL *handle, CURLINFO info, double *value);

CURLM *paz_curl_multi_init(void);
CURLMcode paz_curl_multi_cleanup(CURLM *multi);
CURLMcode paz_curl_multi_setopt_long(CURLM *multi, CURLMoption option, long value);
CURLMcode paz_curl_multi_add_handle(CURLM *multi, CURL *handle);
CURLMcode paz_curl_multi_remove_handle(CURLM *multi, CURL *handle);
CURLMcode paz_curl_multi_perform(CURLM *multi, int *running);
CURLMcode paz_curl_multi_poll(CURLM *multi, struct curl_waitfd *extra, unsigned int count, int timeout_ms, int *ready);
CURLMcode paz_curl_multi_wakeup(CURLM *multi);
CURLMsg *paz_curl_multi_info_read(CURLM *multi, int *remaining);
const char *paz_curl_multi_strerror(CURLMcode code);

struct curl_slist *paz_curl_slist_append(struct curl_slist *list, const char *line);
void paz_curl_slist_free_all(struct curl_slist *list);

/// The result code of a finished transfer (CURLMsg keeps it in an anonymous union).
CURLcode paz_curl_msg_result(const CURLMsg *message);
/// True when the message says a transfer finished.
int paz_curl_msg_is_done(const CURLMsg *message);
