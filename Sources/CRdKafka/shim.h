// librdkafka (Debian's librdkafka-dev): the producer behind the Kafka roll-up sink, and the mock
// cluster the tests run it against.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
