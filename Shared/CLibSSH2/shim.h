#pragma once
#include <libssh2.h>
#include <openssl/evp.h>

// libssh2's function-like macros are not imported by Swift; these inline shims call the `_ex` forms.

static inline LIBSSH2_CHANNEL *paz_ssh2_channel_open_session(LIBSSH2_SESSION *session) {
    return libssh2_channel_open_ex(session, "session", sizeof("session") - 1,
                                   LIBSSH2_CHANNEL_WINDOW_DEFAULT, LIBSSH2_CHANNEL_PACKET_DEFAULT, NULL, 0);
}

static inline int paz_ssh2_channel_exec(LIBSSH2_CHANNEL *channel, const char *command, unsigned int length) {
    return libssh2_channel_process_startup(channel, "exec", sizeof("exec") - 1, command, length);
}

/// Stream 0 is stdout; stream 1 (SSH_EXTENDED_DATA_STDERR) is stderr.
static inline ssize_t paz_ssh2_channel_read(LIBSSH2_CHANNEL *channel, int stream, unsigned char *buffer, size_t length) {
    return libssh2_channel_read_ex(channel, stream, (char *)buffer, length);
}

static inline ssize_t paz_ssh2_channel_write(LIBSSH2_CHANNEL *channel, const unsigned char *buffer, size_t length) {
    return libssh2_channel_write_ex(channel, 0, (const char *)buffer, length);
}

static inline int paz_ssh2_channel_close(LIBSSH2_CHANNEL *channel) {
    return libssh2_channel_close(channel);
}

static inline int paz_ssh2_disconnect(LIBSSH2_SESSION *session, const char *description) {
    return libssh2_session_disconnect_ex(session, SSH_DISCONNECT_BY_APPLICATION, description, "");
}

/// SHA-256 (from OpenSSL's libcrypto, which libssh2 already uses) for OpenSSH key fingerprints.
static inline void paz_sha256(const unsigned char *data, size_t length, unsigned char digest[32]) {
    EVP_Digest(data, length, digest, NULL, EVP_sha256(), NULL);
}
