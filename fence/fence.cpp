// Anchors vigil_fence until the fence actions land.
