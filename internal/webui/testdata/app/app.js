// The fixture page: reads the asset table as the real one does.
const assets = JSON.parse(document.querySelector('meta[name="keyhold-assets"]').content);
console.log(assets.version);
