#include "link.h"

#include <MQTTAsync.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define INBOX_MAX 64

struct link {
	MQTTAsync client;
	char *will_topic, *will_payload, *subscribe, *username, *password;
	atomic_bool connected, connecting, ever_connected;
	pthread_mutex_t lock;
	json_t *inbox[INBOX_MAX];
	int head, count;
};

static char *dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *msg)
{
	struct link *l = context;
	(void)topic_len;
	json_t *parsed = json_loadb(msg->payload, (size_t)msg->payloadlen, 0, NULL);
	const char *leaf = strrchr(topic, '/');
	if (json_is_object(parsed))
		json_object_set_new(parsed, "_leaf", json_string(leaf != NULL ? leaf + 1 : topic));
	pthread_mutex_lock(&l->lock);
	if (parsed != NULL && l->count < INBOX_MAX) {
		l->inbox[(l->head + l->count) % INBOX_MAX] = parsed;
		l->count++;
		parsed = NULL;
	}
	pthread_mutex_unlock(&l->lock);
	json_decref(parsed);
	MQTTAsync_freeMessage(&msg);
	MQTTAsync_free(topic);
	return 1;
}

static void on_connected(void *context, char *cause)
{
	struct link *l = context;
	(void)cause;
	atomic_store(&l->connected, true);
	atomic_store(&l->connecting, false);
	atomic_store(&l->ever_connected, true);
	if (l->subscribe != NULL)
		MQTTAsync_subscribe(l->client, l->subscribe, 1, NULL);
}

static void on_lost(void *context, char *cause)
{
	struct link *l = context;
	(void)cause;
	atomic_store(&l->connected, false);
}

static void on_failure(void *context, MQTTAsync_failureData *response)
{
	struct link *l = context;
	(void)response;
	atomic_store(&l->connecting, false);
}

static void try_connect(struct link *l)
{
	MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
	opts.keepAliveInterval = 5;
	opts.cleansession = 1;
	opts.automaticReconnect = 1;
	opts.minRetryInterval = 1;
	opts.maxRetryInterval = 4;
	opts.connectTimeout = 3;
	opts.onFailure = on_failure;
	opts.context = l;
	opts.username = l->username;
	opts.password = l->password;
	if (l->will_topic != NULL) {
		will.topicName = l->will_topic;
		will.message = l->will_payload;
		will.retained = 1;
		will.qos = 1;
		opts.will = &will;
	}
	atomic_store(&l->connecting, true);
	if (MQTTAsync_connect(l->client, &opts) != MQTTASYNC_SUCCESS)
		atomic_store(&l->connecting, false);
}

struct link *link_open(const char *url, const char *client_id, const char *username, const char *password,
		       const char *will_topic, const char *will_payload, const char *subscribe)
{
	struct link *l = calloc(1, sizeof(*l));
	if (l == NULL)
		return NULL;
	if (MQTTAsync_create(&l->client, url, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL) != MQTTASYNC_SUCCESS) {
		free(l);
		return NULL;
	}
	l->will_topic = dup_or_null(will_topic);
	l->will_payload = dup_or_null(will_payload);
	l->subscribe = dup_or_null(subscribe);
	l->username = dup_or_null(username);
	l->password = dup_or_null(password);
	pthread_mutex_init(&l->lock, NULL);
	MQTTAsync_setCallbacks(l->client, l, on_lost, on_message, NULL);
	MQTTAsync_setConnected(l->client, l, on_connected);
	try_connect(l);
	return l;
}

void link_poll(struct link *l)
{
	if (!atomic_load(&l->ever_connected) && !atomic_load(&l->connecting))
		try_connect(l);
}

void link_publish(struct link *l, const char *topic, const char *payload, int qos, bool retained)
{
	if (!atomic_load(&l->connected))
		return;
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	msg.payload = (void *)payload;
	msg.payloadlen = (int)strlen(payload);
	msg.qos = qos;
	msg.retained = retained;
	MQTTAsync_sendMessage(l->client, topic, &msg, NULL);
}

json_t *link_take(struct link *l)
{
	json_t *msg = NULL;
	pthread_mutex_lock(&l->lock);
	if (l->count > 0) {
		msg = l->inbox[l->head];
		l->head = (l->head + 1) % INBOX_MAX;
		l->count--;
	}
	pthread_mutex_unlock(&l->lock);
	return msg;
}

bool link_connected(struct link *l)
{
	return atomic_load(&l->connected);
}

void link_close(struct link *l)
{
	if (l == NULL)
		return;
	if (atomic_load(&l->connected)) {
		MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;
		opts.timeout = 500;
		MQTTAsync_disconnect(l->client, &opts);
	}
	MQTTAsync_destroy(&l->client);
	while (l->count > 0) {
		json_decref(l->inbox[l->head]);
		l->head = (l->head + 1) % INBOX_MAX;
		l->count--;
	}
	pthread_mutex_destroy(&l->lock);
	free(l->will_topic);
	free(l->will_payload);
	free(l->subscribe);
	free(l->username);
	free(l->password);
	free(l);
}
