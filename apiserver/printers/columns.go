package printers

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Column descriptions are taken from the API types' own field docs, exactly
// as kube-apiserver's printers take them, so the columnDefinitions a client
// receives carry the same text as the real server's.
var objectMetaDoc = metav1.ObjectMeta{}.SwaggerDoc()

// Descriptions of the wide CONTAINERS and IMAGES columns shared by every
// workload resource.
const (
	containersDescription = "Names of each container in the template."
	imagesDescription     = "Images referenced by each container in the template."
)

// nameColumn is the NAME column. Format "name" tells clients this column holds
// the object's name (kubectl uses it e.g. for -o name style decisions).
func nameColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]}
}

// ageColumn is the AGE column: time since metadata.creationTimestamp, computed
// by the server.
func ageColumn() metav1.TableColumnDefinition {
	return stringColumn("Age", objectMetaDoc["creationTimestamp"])
}

func stringColumn(name, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: "string", Description: description}
}

func integerColumn(name, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: "integer", Description: description}
}

// wide marks a column as priority 1: kubectl shows it only with -o wide.
func wide(c metav1.TableColumnDefinition) metav1.TableColumnDefinition {
	c.Priority = 1
	return c
}
