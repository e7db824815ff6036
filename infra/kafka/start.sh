#!/bin/sh
# docker-compose.yml's Kafka: the configuration `symbiosis up` runs with (server.properties,
# generated from symbiosis/broker/server.py), the admin's password from its secret, the log
# formatted on first start with the admin's SCRAM credentials.
set -eu
admin_password="$(cat /run/secrets/kafka_admin)"
config=/tmp/server.properties
umask 077
sed "s|@ADMIN_PASSWORD@|${admin_password}|g" /etc/kafka/symbiosis/server.properties > "$config"
if [ ! -f /var/lib/kafka/data/meta.properties ]; then
  /opt/kafka/bin/kafka-storage.sh format --config "$config" \
    --cluster-id "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=${admin_password}]" > /dev/null
fi
# For the health check: the admin signs in as any client must.
cat > /tmp/admin.properties <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${admin_password}";
PROPS
exec /opt/kafka/bin/kafka-server-start.sh "$config"
