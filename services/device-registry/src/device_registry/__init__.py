"""Device registry: UTM units: expected, shipped, registered, online/offline."""
