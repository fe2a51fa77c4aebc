"""The browser UI: layout, navigation, dashboards, health checks and error pages."""
