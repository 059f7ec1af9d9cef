#!/usr/bin/env bash
# Builds the sample application's WAR with javac and jar (no Maven downloads), against
# Tomcat 10's servlet API, with Debian's MariaDB JDBC driver in WEB-INF/lib.
#
#   examples/itrust/build.sh OUT_WAR BUILD_ID PROPERTIES_FILE
set -euo pipefail
out=$1 build_id=$2 properties=$3
here=$(cd "$(dirname "$0")" && pwd)
servlet_api=/usr/share/tomcat10/lib/servlet-api.jar
driver=/usr/share/java/mariadb-java-client.jar
for jar in "$servlet_api" "$driver"; do
  [ -f "$jar" ] || { echo "$jar is missing (apt: tomcat10, libmariadb-java)" >&2; exit 1; }
done
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -r "$here/web/." "$stage/"
mkdir -p "$stage/WEB-INF/classes" "$stage/WEB-INF/lib"
javac -nowarn -cp "$servlet_api" -d "$stage/WEB-INF/classes" "$here"/src/itrust/*.java
cp "$driver" "$stage/WEB-INF/lib/"
{ cat "$properties"; echo "build.id=$build_id"; } >"$stage/WEB-INF/itrust.properties"
mkdir -p "$(dirname "$out")"
jar cf "$out.tmp" -C "$stage" .
mv -f "$out.tmp" "$out"
