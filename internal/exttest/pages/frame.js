// The frame's address comes from ?src= (another test host's login page).
document.getElementById("frame").src = new URLSearchParams(location.search).get("src") || "about:blank";
