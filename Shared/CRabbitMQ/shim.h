#pragma once
#include <amqp.h>
#include <amqp_tcp_socket.h>

/* amqp_login_with_properties is variadic (Swift cannot call it): PLAIN login with client properties. */
static inline amqp_rpc_reply_t paz_amqp_login_plain(amqp_connection_state_t state, char const *vhost,
                                                    int channel_max, int frame_max, int heartbeat,
                                                    const amqp_table_t *properties, char const *user,
                                                    char const *password) {
  return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, properties,
                                    AMQP_SASL_METHOD_PLAIN, user, password);
}

/* Method ids are cast macros, which Swift does not import. */
static const amqp_method_number_t PAZ_BASIC_DELIVER = AMQP_BASIC_DELIVER_METHOD;
static const amqp_method_number_t PAZ_BASIC_RETURN = AMQP_BASIC_RETURN_METHOD;
static const amqp_method_number_t PAZ_BASIC_ACK = AMQP_BASIC_ACK_METHOD;
static const amqp_method_number_t PAZ_BASIC_NACK = AMQP_BASIC_NACK_METHOD;
static const amqp_method_number_t PAZ_BASIC_CANCEL = AMQP_BASIC_CANCEL_METHOD;
static const amqp_method_number_t PAZ_CHANNEL_CLOSE = AMQP_CHANNEL_CLOSE_METHOD;
static const amqp_method_number_t PAZ_CHANNEL_CLOSE_OK = AMQP_CHANNEL_CLOSE_OK_METHOD;
static const amqp_method_number_t PAZ_CONNECTION_CLOSE = AMQP_CONNECTION_CLOSE_METHOD;
static const amqp_method_number_t PAZ_CONNECTION_CLOSE_OK = AMQP_CONNECTION_CLOSE_OK_METHOD;
static const amqp_method_number_t PAZ_CONNECTION_BLOCKED = AMQP_CONNECTION_BLOCKED_METHOD;
static const amqp_method_number_t PAZ_CONNECTION_UNBLOCKED = AMQP_CONNECTION_UNBLOCKED_METHOD;
static const amqp_flags_t PAZ_FLAG_CONTENT_TYPE = AMQP_BASIC_CONTENT_TYPE_FLAG;
static const amqp_flags_t PAZ_FLAG_HEADERS = AMQP_BASIC_HEADERS_FLAG;
static const amqp_flags_t PAZ_FLAG_DELIVERY_MODE = AMQP_BASIC_DELIVERY_MODE_FLAG;
static const amqp_flags_t PAZ_FLAG_CORRELATION_ID = AMQP_BASIC_CORRELATION_ID_FLAG;
static const amqp_flags_t PAZ_FLAG_REPLY_TO = AMQP_BASIC_REPLY_TO_FLAG;
static const amqp_flags_t PAZ_FLAG_EXPIRATION = AMQP_BASIC_EXPIRATION_FLAG;
static const amqp_flags_t PAZ_FLAG_MESSAGE_ID = AMQP_BASIC_MESSAGE_ID_FLAG;
static const amqp_flags_t PAZ_FLAG_TYPE = AMQP_BASIC_TYPE_FLAG;
static const amqp_flags_t PAZ_FLAG_USER_ID = AMQP_BASIC_USER_ID_FLAG;

#include <sys/eventfd.h>

/* A non-blocking eventfd that wakes a connection thread's poll() (eventfd's flags are macros). */
static inline int paz_wakeup_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }
