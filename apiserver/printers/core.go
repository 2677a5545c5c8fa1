package printers

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Small core/v1 tables: namespaces, configmaps, serviceaccounts.

var namespacePrinter = Printer{
	Columns: []metav1.TableColumnDefinition{
		nameColumn(),
		stringColumn("Status", "The status of the namespace"),
		ageColumn(),
	},
	Row: rowOf(func(ns *corev1.Namespace, now time.Time) []interface{} {
		return []interface{}{ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp, now)}
	}),
}

// DATA counts keys in data and binaryData together.
var configMapPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{
		nameColumn(),
		stringColumn("Data", corev1.ConfigMap{}.SwaggerDoc()["data"]),
		ageColumn(),
	},
	Row: rowOf(func(cm *corev1.ConfigMap, now time.Time) []interface{} {
		return []interface{}{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(cm.CreationTimestamp, now)}
	}),
}

// SECRETS counts the secrets listed in the service account (0 for tokens
// issued by the TokenRequest API, as on current clusters).
var serviceAccountPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{
		nameColumn(),
		stringColumn("Secrets", corev1.ServiceAccount{}.SwaggerDoc()["secrets"]),
		ageColumn(),
	},
	Row: rowOf(func(sa *corev1.ServiceAccount, now time.Time) []interface{} {
		return []interface{}{sa.Name, int64(len(sa.Secrets)), age(sa.CreationTimestamp, now)}
	}),
}
