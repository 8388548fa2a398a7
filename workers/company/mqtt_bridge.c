#include "mqtt_bridge.h"
#include "log.h"

#include <MQTTAsync.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RETRY_SECONDS 2

struct mqtt_bridge {
	MQTTAsync client;
	char status_topic[128];
	char online[160];
	char offline[160];
	atomic_bool connected;
	atomic_bool connecting;      /* a connect call is in flight */
	atomic_bool auto_reconnects; /* connected once: paho reconnects by itself from now on */
	pthread_t retry_thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
};

static void publish_status(struct mqtt_bridge *b, const char *payload)
{
	MQTTAsync_message msg = MQTTAsync_message_initializer;
	msg.payload = (void *)payload;
	msg.payloadlen = (int)strlen(payload);
	msg.qos = 1;
	msg.retained = 1;
	int rc = MQTTAsync_sendMessage(b->client, b->status_topic, &msg, NULL);
	if (rc != MQTTASYNC_SUCCESS)
		log_warn("event=mqtt_publish_failed topic=%s rc=%d", b->status_topic, rc);
}

/* Runs on paho's thread after every (re)connect: announce, and (later) subscribe again. */
static void on_connected(void *context, char *cause)
{
	struct mqtt_bridge *b = context;
	(void)cause;
	atomic_store(&b->connected, true);
	atomic_store(&b->connecting, false);
	atomic_store(&b->auto_reconnects, true);
	log_info("event=mqtt_connected");
	publish_status(b, b->online);
}

static void on_connection_lost(void *context, char *cause)
{
	struct mqtt_bridge *b = context;
	atomic_store(&b->connected, false);
	log_warn("event=mqtt_connection_lost cause=\"%s\"", cause != NULL ? cause : "unknown");
}

static void on_connect_failure(void *context, MQTTAsync_failureData *response)
{
	struct mqtt_bridge *b = context;
	atomic_store(&b->connecting, false);
	log_warn("event=mqtt_connect_failed rc=%d", response != NULL ? response->code : 0);
}

static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *msg)
{
	(void)context;
	(void)topic_len;
	MQTTAsync_freeMessage(&msg);
	MQTTAsync_free(topic);
	return 1;
}

static void try_connect(struct mqtt_bridge *b)
{
	MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
	will.topicName = b->status_topic;
	will.message = b->offline;
	will.retained = 1;
	will.qos = 1;

	MQTTAsync_connectOptions opts = MQTTAsync_connectOptions_initializer;
	opts.keepAliveInterval = 10;
	opts.cleansession = 1;
	opts.automaticReconnect = 1;
	opts.minRetryInterval = 1;
	opts.maxRetryInterval = 8;
	opts.connectTimeout = 5;
	opts.will = &will;
	opts.onFailure = on_connect_failure;
	opts.context = b;

	atomic_store(&b->connecting, true);
	int rc = MQTTAsync_connect(b->client, &opts);
	if (rc != MQTTASYNC_SUCCESS) {
		atomic_store(&b->connecting, false);
		log_warn("event=mqtt_connect_refused rc=%d", rc);
	}
}

/* paho retries only connections that once succeeded: this thread covers the first one. */
static void *retry_loop(void *arg)
{
	struct mqtt_bridge *b = arg;
	pthread_mutex_lock(&b->lock);
	while (!b->stopping) {
		if (!atomic_load(&b->auto_reconnects) && !atomic_load(&b->connecting))
			try_connect(b);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += RETRY_SECONDS;
		pthread_cond_timedwait(&b->wake, &b->lock, &until);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

struct mqtt_bridge *mqtt_bridge_start(const char *url, const char *company_id)
{
	struct mqtt_bridge *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	char client_id[64];
	snprintf(client_id, sizeof(client_id), "evc-worker-%s-%d", company_id, (int)getpid());
	snprintf(b->status_topic, sizeof(b->status_topic), "evc/v1/%s/server/status", company_id);
	snprintf(b->online, sizeof(b->online), "{\"company\":\"%s\",\"online\":true}", company_id);
	snprintf(b->offline, sizeof(b->offline), "{\"company\":\"%s\",\"online\":false}", company_id);

	if (MQTTAsync_create(&b->client, url, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL) != MQTTASYNC_SUCCESS) {
		log_error("event=mqtt_create_failed url=%s", url);
		free(b);
		return NULL;
	}
	MQTTAsync_setCallbacks(b->client, b, on_connection_lost, on_message, NULL);
	MQTTAsync_setConnected(b->client, b, on_connected);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->wake, NULL);
	if (pthread_create(&b->retry_thread, NULL, retry_loop, b) != 0) {
		MQTTAsync_destroy(&b->client);
		free(b);
		return NULL;
	}
	return b;
}

bool mqtt_bridge_connected(struct mqtt_bridge *b)
{
	return atomic_load(&b->connected);
}

void mqtt_bridge_stop(struct mqtt_bridge *b)
{
	if (b == NULL)
		return;
	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	pthread_cond_signal(&b->wake);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->retry_thread, NULL);

	if (atomic_load(&b->connected)) {
		publish_status(b, b->offline);
		MQTTAsync_disconnectOptions opts = MQTTAsync_disconnectOptions_initializer;
		opts.timeout = 1000;
		MQTTAsync_disconnect(b->client, &opts);
		/* Give the offline message and the DISCONNECT a moment to leave. */
		struct timespec pause = { 0, 200 * 1000000L };
		nanosleep(&pause, NULL);
	}
	MQTTAsync_destroy(&b->client);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->wake);
	free(b);
}
