#!/usr/bin/env bash
# Starts a single-node Apache Kafka (KRaft mode) from Maven Central jars, for CI and
# for developers who want the real broker instead of the embedded one.
#
#   infra/kafka/run-kafka.sh DIR [PORT]
#
# Jars are fetched with Maven (cached in ~/.m2), the storage in DIR is formatted on first
# use, and the broker runs in the foreground until killed. It prints nothing to stdout but
# the broker's own log; wait for the port with infra/kafka/wait-for-port.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:?usage: run-kafka.sh DIR [PORT]}"
port="${2:-9092}"
controller_port=$((port + 1))
mkdir -p "$dir/libs" "$dir/data"

if [ ! -f "$dir/libs/.complete" ]; then
  mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$dir/libs" -DincludeScope=runtime
  touch "$dir/libs/.complete"
fi

cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controller_port}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=${dir}/data
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS

java_opts=(-Xms256m -Xmx768m "-Dlog4j2.configurationFile=$here/log4j2.yaml")
if [ ! -f "$dir/data/meta.properties" ]; then
  java "${java_opts[@]}" -cp "$dir/libs/*" kafka.tools.StorageTool format \
    --config "$dir/server.properties" --cluster-id "$(java -cp "$dir/libs/*" kafka.tools.StorageTool random-uuid)" \
    --ignore-formatted >/dev/null
fi
exec java "${java_opts[@]}" -cp "$dir/libs/*" kafka.Kafka "$dir/server.properties"
