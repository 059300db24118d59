// What floor.c and hops.c share: a connection to the broker at 127.0.0.1:$PORT (guest) with
// channel 1 open, and the percentiles of the measured round trips (the first 200 are warm-up).
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>

static amqp_connection_state_t opencon(void) {
  int port = getenv("PORT") ? atoi(getenv("PORT")) : 5672;
  amqp_connection_state_t c = amqp_new_connection();
  amqp_socket_t *s = amqp_tcp_socket_new(c);
  if (amqp_socket_open(s, "127.0.0.1", port)) { fprintf(stderr, "open\n"); exit(1); }
  amqp_rpc_reply_t r = amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
  if (r.reply_type != AMQP_RESPONSE_NORMAL) { fprintf(stderr, "login\n"); exit(1); }
  amqp_channel_open(c, 1); amqp_get_rpc_reply(c);
  return c;
}

static int cmp(const void *a, const void *b) { double x = *(double*)a, y = *(double*)b; return x < y ? -1 : x > y; }

/// Prints p50/p90/p99 of `lat[200..<n]` (milliseconds).
static void report(const char *name, double *lat, int n) {
  qsort(lat + 200, n - 200, sizeof(double), cmp);
  printf("%s p50 %.3f ms p90 %.3f p99 %.3f\n", name, lat[200 + (n-200)/2], lat[200 + (n-200)*9/10], lat[200 + (n-200)*99/100]);
}
