// The broker's own round-trip floor for `paz-bench amqp-rpc` (docs/benchmarks.md): a bare
// librabbitmq client and responder, one thread each, blocking reads, no envelopes. Against a
// local broker with guest on loopback:
//   gcc -O2 -o floor floor.c -lrabbitmq -lpthread && PORT=5672 N=5000 ./floor
// QUORUM=1 uses a quorum queue `floorq` instead of the transient classic queue `floor`.
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common.h"
static void *responder(void *arg) {
  amqp_connection_state_t c = opencon();
  amqp_basic_qos(c, 1, 0, 32, 0); amqp_get_rpc_reply(c);
  amqp_basic_consume(c, 1, amqp_cstring_bytes(getenv("QUORUM") ? "floorq" : "floor"), amqp_empty_bytes, 0, 0, 0, amqp_empty_table); amqp_get_rpc_reply(c);
  for (;;) {
    amqp_envelope_t e; amqp_maybe_release_buffers(c);
    amqp_rpc_reply_t r = amqp_consume_message(c, &e, NULL, 0);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) continue;
    amqp_basic_properties_t p; p._flags = AMQP_BASIC_CORRELATION_ID_FLAG; p.correlation_id = e.message.properties.correlation_id;
    amqp_basic_publish(c, 1, amqp_empty_bytes, e.message.properties.reply_to, 0, 0, &p, e.message.body);
    amqp_basic_ack(c, 1, e.delivery_tag, 0);
    amqp_destroy_envelope(&e);
  }
  return NULL;
}
int main(int argc, char **argv) {
  amqp_connection_state_t c = opencon();
  amqp_table_t none = amqp_empty_table;
  if (getenv("QUORUM")) { amqp_table_entry_t en; en.key = amqp_cstring_bytes("x-queue-type"); en.value.kind = AMQP_FIELD_KIND_UTF8; en.value.value.bytes = amqp_cstring_bytes("quorum"); amqp_table_t t = {1, &en};
 amqp_queue_declare(c, 1, amqp_cstring_bytes("floorq"), 0, 1, 0, 0, t); } else amqp_queue_declare(c, 1, amqp_cstring_bytes("floor"), 0, 0, 0, 1, none);
 { amqp_rpc_reply_t rr = amqp_get_rpc_reply(c); if (rr.reply_type != AMQP_RESPONSE_NORMAL) { fprintf(stderr, "declare failed\n"); exit(1);} }
  pthread_t t; pthread_create(&t, NULL, responder, NULL);
  amqp_basic_consume(c, 1, amqp_cstring_bytes("amq.rabbitmq.reply-to"), amqp_empty_bytes, 0, 1, 0, none); amqp_get_rpc_reply(c);
  char body[600]; memset(body, 'a', sizeof body);
  int n = getenv("N") ? atoi(getenv("N")) : 5200; double *lat = malloc(sizeof(double) * n);
  for (int i = 0; i < n; i++) {
    struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
    amqp_basic_properties_t p; p._flags = AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_EXPIRATION_FLAG;
    p.reply_to = amqp_cstring_bytes("amq.rabbitmq.reply-to"); p.correlation_id = amqp_cstring_bytes("x"); p.expiration = amqp_cstring_bytes("5000");
    amqp_bytes_t bb = { sizeof body, body };
    amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(getenv("QUORUM") ? "floorq" : "floor"), 1, 0, &p, bb);
    amqp_envelope_t e; amqp_maybe_release_buffers(c);
    amqp_rpc_reply_t r = amqp_consume_message(c, &e, NULL, 0);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) { fprintf(stderr, "consume %d\n", r.reply_type); exit(1); }
    amqp_destroy_envelope(&e);
    clock_gettime(CLOCK_MONOTONIC, &b);
    lat[i] = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
  }
  report("floor", lat, n);
  return 0;
}
