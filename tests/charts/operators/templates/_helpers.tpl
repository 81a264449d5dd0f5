{{- define "operators.labels" -}}
app.kubernetes.io/name: operators
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
