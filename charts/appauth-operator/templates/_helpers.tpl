{{/* Chart name. */}}
{{- define "appauth-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, with the chart name unless the release name contains it. */}}
{{- define "appauth-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "appauth-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "appauth-operator.labels" -}}
helm.sh/chart: {{ include "appauth-operator.chart" . }}
{{ include "appauth-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels the Deployment selects its pods by (immutable: never add to them). */}}
{{- define "appauth-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "appauth-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "appauth-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "appauth-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "appauth-operator.leaseName" -}}
{{- default (include "appauth-operator.fullname" .) .Values.leaderElection.id }}
{{- end }}

{{- define "appauth-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Where the credentials Secret is mounted. */}}
{{- define "appauth-operator.credentialsDir" -}}
/etc/appauth-operator/credentials
{{- end }}

{{/* Where the projected token for the IAM identity provider is mounted. */}}
{{- define "appauth-operator.federationDir" -}}
/var/run/secrets/appauth-operator/federation
{{- end }}

{{/* Where the projected token for CCE Pod Identity is mounted. */}}
{{- define "appauth-operator.podIdentityDir" -}}
/var/run/secrets/appauth-operator/pod-identity
{{- end }}

{{/* Where the CA bundle ConfigMap is mounted. */}}
{{- define "appauth-operator.caBundleDir" -}}
/etc/appauth-operator/ca
{{- end }}

{{/*
The operator's permissions on the objects it reconciles and the Secrets and Events it writes
(docs/operations.md, "RBAC"). Used by the ClusterRole (all namespaces) or the Role
(watchNamespace).
*/}}
{{- define "appauth-operator.rules" -}}
# Watch and reconcile both kinds; patch adds and removes the cleanup finalizer and the
# operator's annotations (pending marker, mirrored cloud id).
- apiGroups: ["appauth.hwcloud.dev"]
  resources: ["gatewayapps", "inferenceapis"]
  verbs: ["get", "list", "watch", "patch"]
# Conditions, observedGeneration and the cloud ids.
- apiGroups: ["appauth.hwcloud.dev"]
  resources: ["gatewayapps/status", "inferenceapis/status"]
  verbs: ["patch"]
# The credential Secrets carry an ownerReference with blockOwnerDeletion, which clusters with
# the OwnerReferencesPermissionEnforcement admission plugin only allow with this.
- apiGroups: ["appauth.hwcloud.dev"]
  resources: ["gatewayapps/finalizers", "inferenceapis/finalizers"]
  verbs: ["update"]
# Its own credential Secrets (server-side apply; delete of a renamed one), reading the
# accountRef and credentialsFrom Secrets users name, and a finalizer on account Secrets in use.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
# Events on create, adopt, rotate, delete and terminal errors (events.k8s.io/v1; patch turns
# repeats into a series).
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if .Values.federation.namespaceServiceAccounts }}
# federation.namespaceServiceAccounts: a short-lived token for the ServiceAccount an accountRef
# Secret names in its own namespace, exchanged at IAM. Cannot be narrowed by name (the names are
# the tenants'): it allows a token for any ServiceAccount where this rule applies.
- apiGroups: [""]
  resources: ["serviceaccounts/token"]
  verbs: ["create"]
{{- end }}
{{- end }}

{{/*
Tenancy: what the operator needs beyond the objects it reconciles, always cluster-wide (policies,
grant sets and namespaces are cluster-scoped), also when it watches one namespace.
*/}}
{{- define "appauth-operator.tenancyRules" -}}
# The AppAuthPolicies decide what each namespace may do; their status says what each governs.
- apiGroups: ["appauth.hwcloud.dev"]
  resources: ["appauthpolicies"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["appauth.hwcloud.dev"]
  resources: ["appauthpolicies/status"]
  verbs: ["get", "patch", "update"]
# Every policy in one AppAuthGrantSet for the admission policy: its own, by name (create cannot
# be limited by name).
- apiGroups: ["appauth.hwcloud.dev"]
  resources: ["appauthgrantsets"]
  verbs: ["create"]
- apiGroups: ["appauth.hwcloud.dev"]
  resources: ["appauthgrantsets"]
  resourceNames: [{{ .Values.admission.grantsName | quote }}]
  verbs: ["get", "patch", "update", "delete"]
# Namespace labels, for the policies' label selectors (metadata only); one namespace, by name,
# when the operator watches only that one.
- apiGroups: [""]
  resources: ["namespaces"]
  {{- with .Values.watchNamespace }}
  resourceNames: [{{ . | quote }}]
  {{- end }}
  verbs: ["list", "watch"]
{{- end }}

{{/* The region and project: the values, else (with the simulator in the Pod) the simulator's. */}}
{{- define "appauth-operator.region" -}}
{{- if .Values.cloud.region }}{{ .Values.cloud.region }}{{ else if .Values.simulator.enabled }}cn-north-4{{ end }}
{{- end }}

{{- define "appauth-operator.projectId" -}}
{{- if .Values.cloud.projectId }}{{ .Values.cloud.projectId }}{{ else if .Values.simulator.enabled }}0833a5737480d53b2f250010d01a7b88{{ end }}
{{- end }}
