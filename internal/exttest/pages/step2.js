// The username from step 1 travels in a hidden field, as real sites do.
document.getElementById("user-hidden").value = new URLSearchParams(location.search).get("user") || "";
