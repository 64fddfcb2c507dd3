package faas

// NewAzureHandler is the custom handler Run serves on Azure, for the
// external tests.
var NewAzureHandler = newAzureHandler
