{{/* Names and labels */}}
{{- define "mlp.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "mlp.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "mlp.labels" -}}
app.kubernetes.io/name: {{ include "mlp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "mlp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "mlp.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The three workers: role and queue are fixed here because they must match the workflow's task
queues (common/task-queues.ts). KEDA counts workflow tasks for the workflows worker and
activity tasks for the others: the cpu queue carries both kinds.
*/}}
{{- define "mlp.workerKinds" -}}
workflows: { role: workflows, queue: cpu, queueType: workflow }
cpu: { role: activities, queue: cpu, queueType: activity }
gpu: { role: activities, queue: gpu, queueType: activity }
{{- end -}}

{{- define "mlp.taskQueue" -}}
{{- printf "%s-%s" .root.Values.temporal.taskQueuePrefix .queue -}}
{{- end -}}

{{/* The image, refusing an empty repository or tag and `latest`. */}}
{{- define "mlp.image" -}}
{{- $repository := required "image.repository is required: the worker image built from the repository's Dockerfile" .Values.image.repository -}}
{{- $tag := required "image.tag is required: pin the worker image to a version" (toString .Values.image.tag) -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag must not be latest: pin the worker image to a version (models record the code version they were trained with)" -}}
{{- end -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}

{{/*
The builds this release runs: this image, and with versioning the previous one while it drains.
Each: tag, codeVersion (MLP_CODE_VERSION and the build ID) and suffix (of its Deployment names
and the `ml-pipelines/build` label; empty without versioning, so names stay as they were).
*/}}
{{- define "mlp.builds" -}}
{{- $tag := toString .Values.image.tag -}}
{{- $builds := list (dict "tag" $tag "codeVersion" (default $tag .Values.codeVersion)) -}}
{{- $previous := .Values.versioning.previous -}}
{{- if and .Values.versioning.enabled $previous.tag -}}
{{- $previousTag := toString $previous.tag -}}
{{- $builds = append $builds (dict "tag" $previousTag "codeVersion" (default $previousTag $previous.codeVersion)) -}}
{{- end -}}
{{- $out := list -}}
{{- range $build := $builds -}}
{{- $suffix := "" -}}
{{- if $.Values.versioning.enabled -}}
{{- $slug := $build.codeVersion | lower | replace "." "-" | replace "_" "-" -}}
{{- /* Names stay within 63 characters: a long build ID keeps its start and a hash of the whole. */ -}}
{{- if gt (len $slug) 20 -}}
{{- $slug = printf "%s-%s" (trunc 11 $slug | trimSuffix "-") (sha256sum $build.codeVersion | trunc 8) -}}
{{- end -}}
{{- $suffix = printf "-%s" $slug -}}
{{- end -}}
{{- $out = append $out (merge (dict "suffix" $suffix) $build) -}}
{{- end -}}
{{- if and (gt (len $out) 1) (eq (index $out 0).suffix (index $out 1).suffix) -}}
{{- fail "versioning.previous names the same build as this release: set it to the build being replaced, or remove it" -}}
{{- end -}}
{{- toYaml (dict "builds" $out) -}}
{{- end -}}

{{/* An image of this repository at a tag (the previous build's). */}}
{{- define "mlp.imageAt" -}}
{{- printf "%s:%s" .root.Values.image.repository .tag -}}
{{- end -}}

{{- define "mlp.useTls" -}}
{{- $t := .Values.temporal -}}
{{- if or $t.tls.enabled $t.tls.clientCertSecret $t.tls.caSecret $t.apiKeySecret.name -}}true{{- end -}}
{{- end -}}

{{/* Environment shared by every worker: Temporal, S3, secrets as file paths. */}}
{{- define "mlp.commonEnv" -}}
- name: TEMPORAL_ADDRESS
  value: {{ required "temporal.address is required: host:port of the Temporal frontend" .Values.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
- name: MLP_TASK_QUEUE_PREFIX
  value: {{ .Values.temporal.taskQueuePrefix | quote }}
{{- if include "mlp.useTls" . }}
- name: TEMPORAL_TLS
  value: "true"
{{- end }}
{{- with .Values.temporal.tls.serverName }}
- name: TEMPORAL_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- if .Values.temporal.tls.clientCertSecret }}
- name: TEMPORAL_TLS_CLIENT_CERT_PATH
  value: /var/run/secrets/mlp/temporal-client/tls.crt
- name: TEMPORAL_TLS_CLIENT_KEY_PATH
  value: /var/run/secrets/mlp/temporal-client/tls.key
{{- end }}
{{- if .Values.temporal.tls.caSecret }}
- name: TEMPORAL_TLS_SERVER_CA_CERT_PATH
  value: /var/run/secrets/mlp/temporal-ca/ca.crt
{{- end }}
{{- if .Values.temporal.apiKeySecret.name }}
- name: TEMPORAL_API_KEY_FILE
  value: /var/run/secrets/mlp/temporal-api-key/{{ .Values.temporal.apiKeySecret.key }}
{{- end }}
- name: S3_ENDPOINT
  value: {{ required "s3.endpoint is required: URL of the S3-compatible object store" .Values.s3.endpoint | quote }}
- name: S3_REGION
  value: {{ .Values.s3.region | quote }}
- name: S3_BUCKET
  value: {{ .Values.s3.bucket | quote }}
- name: S3_ACCESS_KEY_ID_FILE
  value: /var/run/secrets/mlp/s3/{{ .Values.s3.credentialsSecret.accessKeyIdKey }}
- name: S3_SECRET_ACCESS_KEY_FILE
  value: /var/run/secrets/mlp/s3/{{ .Values.s3.credentialsSecret.secretAccessKeyKey }}
- name: MLP_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: MLP_SCRATCH_DIR
  value: /scratch
{{- end -}}

{{/* Secret volumes (by reference) and their mounts. */}}
{{- define "mlp.secretVolumes" -}}
- name: s3-credentials
  secret:
    secretName: {{ required "s3.credentialsSecret.name is required: a Secret with the S3 access key id and secret access key" .Values.s3.credentialsSecret.name }}
    defaultMode: 0440
{{- if .Values.temporal.tls.clientCertSecret }}
- name: temporal-client
  secret:
    secretName: {{ .Values.temporal.tls.clientCertSecret }}
    defaultMode: 0440
{{- end }}
{{- if .Values.temporal.tls.caSecret }}
- name: temporal-ca
  secret:
    secretName: {{ .Values.temporal.tls.caSecret }}
{{- end }}
{{- if .Values.temporal.apiKeySecret.name }}
- name: temporal-api-key
  secret:
    secretName: {{ .Values.temporal.apiKeySecret.name }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "mlp.secretMounts" -}}
- name: s3-credentials
  mountPath: /var/run/secrets/mlp/s3
  readOnly: true
{{- if .Values.temporal.tls.clientCertSecret }}
- name: temporal-client
  mountPath: /var/run/secrets/mlp/temporal-client
  readOnly: true
{{- end }}
{{- if .Values.temporal.tls.caSecret }}
- name: temporal-ca
  mountPath: /var/run/secrets/mlp/temporal-ca
  readOnly: true
{{- end }}
{{- if .Values.temporal.apiKeySecret.name }}
- name: temporal-api-key
  mountPath: /var/run/secrets/mlp/temporal-api-key
  readOnly: true
{{- end }}
{{- end -}}

{{/*
Environment of the activity workers (cpu, gpu) only: what their steps use. `run` steps work in
MLP_RUN_DIR (a volume, not the container's writable layer); notifications and MLflow runs link
to the Temporal UI; the tracking activities and train steps log to MLflow. Each optional value
adds nothing when unset, so renders without it stay as they were.
*/}}
{{- define "mlp.activityEnv" -}}
- name: MLP_RUN_DIR
  value: /mlp-run
{{- if .worker.runDir.envsClaim }}
- name: MLP_RUN_ENVS_DIR
  value: /mlp-run-envs
{{- end }}
{{- with .root.Values.temporal.uiUrl }}
- name: MLP_TEMPORAL_UI_URL
  value: {{ . | quote }}
{{- end }}
{{- $mlflow := .root.Values.tracking.mlflow }}
{{- if $mlflow.uri }}
- name: MLFLOW_TRACKING_URI
  value: {{ $mlflow.uri | quote }}
{{- if $mlflow.tokenSecret.name }}
- name: MLFLOW_TRACKING_TOKEN_FILE
  value: /var/run/secrets/mlp/mlflow/{{ $mlflow.tokenSecret.key }}
{{- end }}
{{- else if $mlflow.tokenSecret.name }}
{{- fail "tracking.mlflow.tokenSecret.name is set but tracking.mlflow.uri is empty: set the tracking server's URL, or remove the Secret" }}
{{- end }}
{{- end -}}

{{- define "mlp.activityMounts" -}}
- name: run
  mountPath: /mlp-run
{{- if .worker.runDir.envsClaim }}
- name: run-envs
  mountPath: /mlp-run-envs
{{- end }}
{{- if and .root.Values.tracking.mlflow.uri .root.Values.tracking.mlflow.tokenSecret.name }}
- name: mlflow-token
  mountPath: /var/run/secrets/mlp/mlflow
  readOnly: true
{{- end }}
{{- end -}}

{{/* The run folder is dropped with the pod (outputs and checkpoints live in S3); the Python
environments may live on an existing PVC so a restarted pod does not build them again. */}}
{{- define "mlp.activityVolumes" -}}
- name: run
  {{- if .worker.runDir.sizeLimit }}
  emptyDir:
    sizeLimit: {{ .worker.runDir.sizeLimit }}
  {{- else }}
  emptyDir: {}
  {{- end }}
{{- with .worker.runDir.envsClaim }}
- name: run-envs
  persistentVolumeClaim:
    claimName: {{ . }}
{{- end }}
{{- if and .root.Values.tracking.mlflow.uri .root.Values.tracking.mlflow.tokenSecret.name }}
- name: mlflow-token
  secret:
    secretName: {{ .root.Values.tracking.mlflow.tokenSecret.name }}
    defaultMode: 0440
{{- end }}
{{- end -}}
