// floor.c's round trip with PazAMQP's thread structure: each side has an I/O thread (poll() on the
// socket and an eventfd) and the work (the caller's request, the responder's handler) runs on
// another thread, handed to the I/O thread with the eventfd and back with a condition variable —
// four thread hops per call more than floor.c, and no Swift. Same broker as floor.c:
//   gcc -O2 -o hops hops.c -lrabbitmq -lpthread && PORT=5672 N=5000 ./hops
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <pthread.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <stdint.h>
#include "common.h"
typedef struct { pthread_mutex_t m; pthread_cond_t cv; int ready; char corr[64]; char reply_to[256]; uint64_t tag; } slot_t;
static slot_t to_worker = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
static slot_t to_caller = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
static int resp_efd, cli_efd; static volatile int resp_job = 0, cli_job = 0;
static char rt_job[256], corr_job[64]; static uint64_t tag_job;
static void put(slot_t *s) { pthread_mutex_lock(&s->m); s->ready = 1; pthread_cond_signal(&s->cv); pthread_mutex_unlock(&s->m); }
static void take(slot_t *s) { pthread_mutex_lock(&s->m); while (!s->ready) pthread_cond_wait(&s->cv, &s->m); s->ready = 0; pthread_mutex_unlock(&s->m); }
static char body[600];
static void *resp_io(void *arg) {
  amqp_connection_state_t c = opencon();
  amqp_basic_qos(c, 1, 0, 32, 0); amqp_get_rpc_reply(c);
  amqp_basic_consume(c, 1, amqp_cstring_bytes("floor"), amqp_empty_bytes, 0, 0, 0, amqp_empty_table); amqp_get_rpc_reply(c);
  for (;;) {
    struct pollfd p[2] = {{resp_efd, POLLIN, 0}, {amqp_get_sockfd(c), POLLIN, 0}};
    if (!amqp_data_in_buffer(c) && !amqp_frames_enqueued(c)) poll(p, 2, 500);
    if (p[0].revents) { uint64_t v; read(resp_efd, &v, 8);
      if (resp_job) { resp_job = 0;
        amqp_basic_properties_t pr; pr._flags = AMQP_BASIC_CORRELATION_ID_FLAG; pr.correlation_id = amqp_cstring_bytes(corr_job);
        amqp_bytes_t bb = { sizeof body, body };
        amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(rt_job), 0, 0, &pr, bb);
        amqp_basic_ack(c, 1, tag_job, 0); } }
    if (p[1].revents || amqp_data_in_buffer(c) || amqp_frames_enqueued(c)) {
      amqp_envelope_t e; amqp_maybe_release_buffers(c); struct timeval z = {0, 0};
      amqp_rpc_reply_t r = amqp_consume_message(c, &e, &z, 0);
      if (r.reply_type != AMQP_RESPONSE_NORMAL) continue;
      memcpy(to_worker.reply_to, e.message.properties.reply_to.bytes, e.message.properties.reply_to.len); to_worker.reply_to[e.message.properties.reply_to.len] = 0;
      memcpy(to_worker.corr, e.message.properties.correlation_id.bytes, e.message.properties.correlation_id.len); to_worker.corr[e.message.properties.correlation_id.len] = 0;
      to_worker.tag = e.delivery_tag; amqp_destroy_envelope(&e); put(&to_worker);
    }
  }
  return NULL;
}
static void *resp_worker(void *arg) {
  for (;;) { take(&to_worker); strcpy(rt_job, to_worker.reply_to); strcpy(corr_job, to_worker.corr); tag_job = to_worker.tag; resp_job = 1; uint64_t one = 1; write(resp_efd, &one, 8); }
  return NULL;
}
static amqp_connection_state_t cc;
static void *cli_io(void *arg) {
  amqp_connection_state_t c = cc;
  for (;;) {
    struct pollfd p[2] = {{cli_efd, POLLIN, 0}, {amqp_get_sockfd(c), POLLIN, 0}};
    if (!amqp_data_in_buffer(c) && !amqp_frames_enqueued(c)) poll(p, 2, 500);
    if (p[0].revents) { uint64_t v; read(cli_efd, &v, 8);
      if (cli_job) { cli_job = 0;
        amqp_basic_properties_t pr; pr._flags = AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG | AMQP_BASIC_EXPIRATION_FLAG;
        pr.reply_to = amqp_cstring_bytes("amq.rabbitmq.reply-to"); pr.correlation_id = amqp_cstring_bytes("x"); pr.expiration = amqp_cstring_bytes("5000");
        amqp_bytes_t bb = { sizeof body, body };
        amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes("floor"), 1, 0, &pr, bb); } }
    if (p[1].revents || amqp_data_in_buffer(c) || amqp_frames_enqueued(c)) {
      amqp_envelope_t e; amqp_maybe_release_buffers(c); struct timeval z = {0, 0};
      amqp_rpc_reply_t r = amqp_consume_message(c, &e, &z, 0);
      if (r.reply_type != AMQP_RESPONSE_NORMAL) continue;
      amqp_destroy_envelope(&e); put(&to_caller);
    }
  }
  return NULL;
}
int main(int argc, char **argv) {
  memset(body, 'a', sizeof body);
  resp_efd = eventfd(0, 0); cli_efd = eventfd(0, 0);
  cc = opencon();
  amqp_queue_declare(cc, 1, amqp_cstring_bytes("floor"), 0, 0, 0, 1, amqp_empty_table); amqp_get_rpc_reply(cc);
  amqp_basic_consume(cc, 1, amqp_cstring_bytes("amq.rabbitmq.reply-to"), amqp_empty_bytes, 0, 1, 0, amqp_empty_table); amqp_get_rpc_reply(cc);
  pthread_t t; pthread_create(&t, NULL, resp_io, NULL); pthread_create(&t, NULL, resp_worker, NULL); sleep(1);
  pthread_create(&t, NULL, cli_io, NULL);
  int n = getenv("N") ? atoi(getenv("N")) : 5200; double *lat = malloc(sizeof(double) * n);
  for (int i = 0; i < n; i++) {
    struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
    cli_job = 1; uint64_t one = 1; write(cli_efd, &one, 8);
    take(&to_caller);
    clock_gettime(CLOCK_MONOTONIC, &b);
    lat[i] = (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6;
  }
  report("hops", lat, n);
  return 0;
}
